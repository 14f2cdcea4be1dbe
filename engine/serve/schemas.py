"""The border: a `/v1/chat/completions` body (untrusted bytes) checked once into a `ChatRequest`, or a `RequestError`.

400 means the body cannot be read (not JSON, not an object, too large); 422 means it was read but a field is wrong
or asks for something this server does not do (tools, logprobs, images, n > 1); 404 an unknown model. Unknown top-level
fields are ignored, as most OpenAI-compatible servers do; the known ones are type- and range-checked.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from ..settings import MAX_STEPS_LIMIT, MAX_TOKENS_LIMIT, SamplerSettings

MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_MESSAGES = 4096
MAX_STOP_STRINGS = 16
MAX_STOP_CHARS = 1000
MIN_TEMPERATURE_SCALE = 0.01  # temperature 0 asks for (near-)greedy sampling; the schedule needs t_max > t_min > 0
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
DIFFUSION_FIELDS = ("max_denoising_steps", "entropy_bound", "t_min", "t_max", "stability_threshold",
                    "confidence_threshold")


class RequestError(Exception):
    """A request the server refuses, as an OpenAI-style error body with an HTTP status."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

    def body(self) -> dict[str, Any]:
        """`{"error": {"message", "type", "param", "code"}}`, as OpenAI's API answers."""
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


@dataclass(frozen=True)
class ChatRequest:
    """A validated chat request: messages for `EngineModel.chat_ids`, sampler settings and streaming options."""

    messages: list[dict[str, str]]
    settings: SamplerSettings
    stream: bool = False
    include_usage: bool = False
    include_drafts: bool = False
    enable_thinking: bool = False
    stop: tuple[str, ...] = ()
    temperature: float = 1.0


def _invalid(param: str, message: str) -> RequestError:
    return RequestError(422, f"'{param}': {message}", param=param, code="invalid_value")


def _int(body: dict, name: str, low: int, high: int, where: str = "") -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(where + name, f"must be a whole number from {low} to {high} (got {json.dumps(value)[:40]})")
    return value


def _number(body: dict, name: str, low: float, high: float, where: str = "") -> float | None:
    value = body.get(name)
    if value is None:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not low <= value <= high:
        raise _invalid(where + name, f"must be a number from {low} to {high} (got {json.dumps(value)[:40]})")
    return float(value)


def _bool(body: dict, name: str, where: str = "") -> bool:
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _invalid(where + name, "must be true or false")
    return value


def _object(body: dict, name: str) -> dict:
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid(name, "must be an object")
    return value


def read_json(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; 400 for anything else (invalid UTF-8, invalid JSON, nesting bombs, arrays)."""
    if len(raw) > MAX_BODY_BYTES:
        raise RequestError(413, f"The request body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB.",
                           code="request_too_large")
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise RequestError(400, "The request body is not UTF-8 text; send JSON.", code="invalid_json") from None
    except (ValueError, RecursionError) as exc:
        reason = str(exc).splitlines()[0][:120] if isinstance(exc, ValueError) else "nested too deeply"
        raise RequestError(400, f"The request body is not valid JSON ({reason}).", code="invalid_json") from None
    if not isinstance(body, dict):
        raise RequestError(400, "The request body must be a JSON object.", code="invalid_json")
    return body


def _content(index: int, content: Any) -> str:
    where = f"messages[{index}].content"
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _invalid(where, "must be a string or a list of text parts")
    texts = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") != "text":
            kind = part.get("type") if isinstance(part, dict) else None
            raise RequestError(422, f"'{where}': only text parts are supported by this server "
                               f"(got {json.dumps(kind)[:40]}).", param=where, code="unsupported_content")
        if not isinstance(part.get("text"), str):
            raise _invalid(where, "a text part's 'text' must be a string")
        texts.append(part["text"])
    return "\n".join(texts)


def _messages(body: dict) -> list[dict[str, str]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("messages", "must be a non-empty list of {role, content} objects")
    if len(messages) > MAX_MESSAGES:
        raise _invalid("messages", f"at most {MAX_MESSAGES} messages")
    out = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _invalid(f"messages[{index}]", "must be an object with 'role' and 'content'")
        role = message.get("role")
        if not isinstance(role, str) or role not in ROLES:  # a list or object role is unhashable: check type first
            shown = json.dumps(role)[:40]
            raise RequestError(422, f"'messages[{index}].role' must be one of system, developer, user, assistant "
                               f"(got {shown}); tool messages are not supported.", param=f"messages[{index}].role",
                               code="invalid_value")
        out.append({"role": ROLES[role], "content": _content(index, message.get("content"))})
    return out


def _stop(body: dict) -> tuple[str, ...]:
    stop = body.get("stop")
    if stop is None:
        return ()
    stops = [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or len(stops) > MAX_STOP_STRINGS or not all(isinstance(s, str) for s in stops):
        raise _invalid("stop", f"must be a string or a list of at most {MAX_STOP_STRINGS} strings")
    if any(not s or len(s) > MAX_STOP_CHARS for s in stops):
        raise _invalid("stop", f"each stop string must hold 1 to {MAX_STOP_CHARS} characters")
    return tuple(stops)


def _thinking(body: dict) -> bool:
    kwargs = _object(body, "chat_template_kwargs")
    if "enable_thinking" in kwargs:
        return _bool(kwargs, "enable_thinking", "chat_template_kwargs.")
    effort = body.get("reasoning_effort")
    if effort is None:
        return False
    if effort not in ("none", "minimal", "low", "medium", "high"):
        raise _invalid("reasoning_effort", "must be one of none, minimal, low, medium, high")
    return effort in ("low", "medium", "high")


def _unsupported(body: dict) -> None:
    if body.get("tools") or body.get("functions"):
        raise RequestError(422, "Tool calls are not supported by this server; send the request without 'tools'.",
                           param="tools", code="unsupported_parameter")
    n = _int(body, "n", 1, 128)
    if n not in (None, 1):
        raise RequestError(422, "'n' must be 1: this server answers with one choice per request.", param="n",
                           code="unsupported_parameter")
    if body.get("logprobs") not in (None, False) or body.get("top_logprobs") not in (None, 0):
        name = "logprobs" if body.get("logprobs") not in (None, False) else "top_logprobs"
        raise RequestError(422, "Log probabilities are not available from this server; send the request without "
                           "'logprobs' and 'top_logprobs'.", param=name,
                           code="unsupported_parameter")
    fmt = body.get("response_format")
    if fmt is not None and (not isinstance(fmt, dict) or fmt.get("type") != "text"):
        raise RequestError(422, "'response_format' other than {\"type\": \"text\"} is not supported.",
                           param="response_format", code="unsupported_parameter")


def _settings(body: dict, defaults: SamplerSettings) -> tuple[SamplerSettings, float]:
    max_tokens = _int(body, "max_completion_tokens", 1, MAX_TOKENS_LIMIT)
    if max_tokens is None:
        max_tokens = _int(body, "max_tokens", 1, MAX_TOKENS_LIMIT)
    seed = body.get("seed")
    if seed is not None:
        seed = _int(body, "seed", 0, 2**63 - 1)
    temperature = _number(body, "temperature", 0.0, 2.0)
    temperature = 1.0 if temperature is None else temperature
    changes: dict[str, Any] = {"seed": seed}
    if max_tokens is not None:
        changes["max_new_tokens"] = max_tokens
    diffusion = _object(body, "diffusion")
    for name in diffusion:
        if name not in DIFFUSION_FIELDS:
            raise _invalid(f"diffusion.{name}", f"unknown; the fields are {', '.join(DIFFUSION_FIELDS)}")
    for name in ("max_denoising_steps", "stability_threshold"):
        if name in diffusion:
            changes[name] = _int(diffusion, name, 0 if name == "stability_threshold" else 1, MAX_STEPS_LIMIT,
                                 "diffusion.")
    for name in ("entropy_bound", "t_min", "t_max", "confidence_threshold"):
        if name in diffusion:
            changes[name] = _number(diffusion, name, 0.0, 1000.0, "diffusion.")
    scale = max(temperature, MIN_TEMPERATURE_SCALE)
    t_min, t_max = changes.get("t_min", defaults.t_min), changes.get("t_max", defaults.t_max)
    changes["t_min"], changes["t_max"] = t_min * scale, t_max * scale
    try:
        return defaults.with_(**changes), temperature
    except ValueError as exc:  # SamplerSettings names the field and its range
        raise RequestError(422, f"Sampler settings: {exc}.", code="invalid_value") from None


def parse_chat_request(raw: bytes, *, model_id: str, defaults: SamplerSettings) -> ChatRequest:
    """Check a chat-completions body against the served model and its default sampler settings.

    `temperature` T (0–2, default 1) multiplies the model's linear temperature schedule: t_min·T … t_max·T, so 1 keeps
    the model's own schedule and 0 is near-greedy (T is floored at 0.01). `seed` seeds the canvas noise and the
    sampler; `max_tokens` / `max_completion_tokens` cap the answer; `stop` strings cut the text; the optional
    extension object `diffusion` sets the denoising knobs of `SamplerSettings`.
    """
    body = read_json(raw)
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise _invalid("model", "must be a string")
    if model is not None and model != model_id:
        raise RequestError(404, f"The model {json.dumps(model)[:80]} does not exist on this server; it serves "
                           f"{json.dumps(model_id)} (see /v1/models).", param="model", code="model_not_found")
    _unsupported(body)
    messages = _messages(body)
    settings, temperature = _settings(body, defaults)
    options = _object(body, "stream_options")
    stream = _bool(body, "stream")
    return ChatRequest(
        messages=messages, settings=settings, stream=stream,
        include_usage=_bool(options, "include_usage", "stream_options."),
        include_drafts=_bool(options, "include_drafts", "stream_options.") and stream,
        enable_thinking=_thinking(body), stop=_stop(body), temperature=temperature,
    )
