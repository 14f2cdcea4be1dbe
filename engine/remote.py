"""A remote backend: any OpenAI-compatible server as a source of the same events as `engine.generate`.

`RemoteModel(url, api_key=None, model=None).connect()` checks the server (`/v1/models`) and picks the model;
`generate_remote(remote, messages, settings, cancel=…)` streams `/v1/chat/completions` and yields:
- from another Diffusion Desk (`python -m engine.serve`, which announces `diffusion.per_step_drafts`): a
  `RemoteFrame` per denoising step (the `include_drafts` extension: draft ids, noisy canvas, accepted mask, entropy
  and the draft's text), a `CanvasDone` per canvas and a `Done`;
- from vLLM (one whole canvas per stream chunk): a `CanvasDone` per chunk and a `Done` — no frames;
  `remote.per_step_frames` is False so a canvas view can say that per-step frames are not available there.
Remote events carry text, not token ids (`CanvasDone.token_ids` and `Done.token_ids` are empty: the ids of another
machine's tokenizer mean nothing here; `RemoteFrame.draft` ids are the server's). Failures are `RemoteError`s that
say what to do: unreachable (within ~3 s), key refused (401/403), unknown model, not a diffusion model, bad answers.
`cancel` (a `threading.Event`) hangs up at once, even while the server sends nothing; the server then stops its
generation (disconnect = cancel).

The server is not trusted (`engine.remote_http` holds the transport side): a connect has an overall deadline,
every answer is read with a size cap, a redirect is refused with its target named, a cut-off stream is an error,
an out-of-range canvas length is refused and an out-of-range frame dropped, and server text in a message is
cleaned of control characters.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2

from . import remote_http
from .events import CanvasDone, Done, Frame, Stats
from .remote_http import Hangup, RemoteError, check_answer, clean_text, read_capped, size_text, stream_lines
from .settings import SamplerSettings

CONNECT_TIMEOUT_S = 3.0
CONNECT_DEADLINE_S = 15.0
STREAM_READ_TIMEOUT_S = 600.0
DEFAULT_CANVAS_LENGTH = 256
MAX_CANVAS_LENGTH = 4096
MAX_FRAME_STEPS = 65535  # the app stores step numbers in 16 bits
MAX_CANVAS_INDEX = 65535
MAX_TOKEN_ID = 2**31 - 1
DIFFUSION_NAME = re.compile(r"diffusion", re.IGNORECASE)
DENOISING_FIELDS = ("max_denoising_steps", "entropy_bound", "t_min", "t_max", "stability_threshold",
                    "confidence_threshold")

__all__ = ["NotADiffusionModelError", "RemoteError", "RemoteFrame", "RemoteModel", "generate_remote"]


class NotADiffusionModelError(RemoteError):
    """The server's model is an ordinary (autoregressive) model: there are no canvases to show."""


@dataclass(frozen=True)
class RemoteFrame(Frame):
    """A `Frame` from a remote Diffusion Desk; `text` is the draft decoded by the server's tokenizer."""

    text: str = ""


def _base_url(url: str) -> str:
    text = str(url).strip()
    try:
        parsed = httpx2.URL(text)
    except Exception:  # noqa: BLE001 — httpx2 raises several kinds for a malformed URL
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise RemoteError(f"{text[:200]!r} is not a server address; give one like http://127.0.0.1:8000/v1.")
    if parsed.username or parsed.password:
        raise RemoteError("Put the API key in the key field, not in the address.")
    path = parsed.path.rstrip("/")
    return str(parsed.copy_with(path=path if path else "/v1", query=None, fragment=None)).rstrip("/")


def _checked_key(api_key: str | None) -> str | None:
    """The key as given (None for none); `RemoteError` when a character is not printable ASCII or is a space, which
    an HTTP header cannot carry as typed (the message gives its position, never the key)."""
    if not api_key:
        return None
    for position, char in enumerate(str(api_key), 1):
        if "!" <= char <= "~":
            continue
        kind = ("a space" if char == " " else "a line break" if char in "\r\n" else
                "a control character" if ord(char) < 32 or ord(char) == 127 else "a non-ASCII character")
        raise RemoteError(f"The API key must be printable ASCII without spaces; it has {kind} at position {position}. "
                          "Copy the key again from where the server was started, without spaces or line breaks.")
    return str(api_key)


def _canvas_length(url: str, diffusion: dict[str, Any] | None) -> int:
    """The canvas length the server announces (`DEFAULT_CANVAS_LENGTH` when it announces none); `RemoteError`
    for anything but a whole number from 1 to `MAX_CANVAS_LENGTH`."""
    value = diffusion.get("canvas_length") if diffusion else None
    if value is None:
        return DEFAULT_CANVAS_LENGTH
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CANVAS_LENGTH:
        raise RemoteError(f"The server at {url} announces a canvas of {clean_text(value, 40)} tokens, but Diffusion "
                          f"Desk shows a canvas of 1–{MAX_CANVAS_LENGTH} tokens. Serve a model with a usual canvas "
                          "(DiffusionGemma's is 256), or update the server.")
    return value


class RemoteModel:
    """An OpenAI-compatible server and one of its models. After `connect()`: `.model`, `.per_step_frames`,
    `.canvas_length`, `.kind` ("diffusion-desk" or "openai-compatible") and `.name`. `RemoteError` at once for an
    address that is not http(s), or an API key that is not printable ASCII without spaces."""

    def __init__(self, url: str, api_key: str | None = None, model: str | None = None, *,
                 require_diffusion: bool = True) -> None:
        self.url = _base_url(url)
        self.api_key = _checked_key(api_key)
        self.model = model
        self.require_diffusion = require_diffusion
        self.per_step_frames = False
        self.canvas_length = DEFAULT_CANVAS_LENGTH
        self.kind = "openai-compatible"
        self.connected = False

    @property
    def name(self) -> str:
        """`model @ url`, for a model picker or a status bar."""
        return f"{self.model or '?'} @ {self.url}"

    def client(self, read_timeout: float | None = 60.0) -> httpx2.Client:
        """An HTTP client for this server: connect within 3 s, the key as a bearer token, redirects not followed."""
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        timeout = httpx2.Timeout(read_timeout, connect=CONNECT_TIMEOUT_S)
        return httpx2.Client(timeout=timeout, headers=headers, follow_redirects=False, trust_env=False)

    def connect(self) -> RemoteModel:
        """Check the server and the model (`GET /models`, all of it within `CONNECT_DEADLINE_S`); `RemoteError` with
        the reason when unusable, including a canvas length outside 1–`MAX_CANVAS_LENGTH`."""
        data = self._model_list()
        ids = [m["id"] for m in data]
        if not ids:
            raise RemoteError(f"The server at {self.url} serves no model yet; start it with one.")
        chosen = self.model if self.model is not None else ids[0]
        entry = next((m for m in data if m["id"] == chosen), None)
        if entry is None:
            raise RemoteError(f"The server at {self.url} has no model {chosen!r}; it serves "
                              f"{', '.join(repr(clean_text(i, 80)) for i in ids[:8])}. Pick one of those.")
        diffusion = entry.get("diffusion") if isinstance(entry.get("diffusion"), dict) else None
        names = " ".join(str(entry.get(k, "")) for k in ("id", "root", "parent"))
        if diffusion is None and self.require_diffusion and not DIFFUSION_NAME.search(names):
            raise NotADiffusionModelError(
                f"{clean_text(chosen, 120)!r} at {self.url} is not a diffusion model: Diffusion Desk shows denoising "
                "canvases, which only block-diffusion models such as DiffusionGemma produce. Serve a DiffusionGemma "
                "model there.")
        self.canvas_length = _canvas_length(self.url, diffusion)
        self.model = chosen
        self.per_step_frames = bool(diffusion and diffusion.get("per_step_drafts"))
        self.kind = "diffusion-desk" if self.per_step_frames else "openai-compatible"
        self.connected = True
        return self

    def _model_list(self) -> list[dict[str, Any]]:
        """The `data` of `GET /models`: at most `MAX_MODELS_BYTES`, all within `CONNECT_DEADLINE_S`, each entry
        an object with a string `id`."""
        hangup = Hangup(deadline_s=CONNECT_DEADLINE_S)
        try:
            with self.client(read_timeout=10.0) as client, hangup:
                with client.stream("GET", self.url + "/models", extensions=hangup.extensions) as response:
                    check_answer(self.url, self.model, response)
                    body, cut = read_capped(response, remote_http.MAX_MODELS_BYTES)
        except (httpx2.HTTPError, httpx2.StreamError) as exc:
            raise self._connect_failure(hangup, exc) from None
        if hangup.reason is not None:  # a body without a length ends quietly when hung up on
            raise self._connect_failure(hangup, None)
        if cut:
            raise RemoteError(f"{self.url}/models sent more than {size_text(remote_http.MAX_MODELS_BYTES)}; is this "
                              "an OpenAI-compatible server?")
        data = _json(self.url, body).get("data")
        if not isinstance(data, list) or not all(isinstance(m, dict) and isinstance(m.get("id"), str) for m in data):
            raise RemoteError(f"{self.url}/models did not list models; is this an OpenAI-compatible server?")
        return data

    def _connect_failure(self, hangup: Hangup, exc: Exception | None) -> RemoteError:
        if hangup.reason == "deadline":
            return RemoteError(f"The server at {self.url} did not finish answering within {CONNECT_DEADLINE_S:g} s; "
                               "check the address and that it is running (an overloaded server answers slowly).")
        if isinstance(exc, httpx2.TimeoutException):
            return RemoteError(f"The server at {self.url} did not answer in time; check the address and that it is "
                               "running.")
        return RemoteError(f"Cannot reach {self.url} ({type(exc).__name__}); check the address and that the "
                           "server is running.")

    def request_body(self, messages: list[dict[str, str]], settings: SamplerSettings, *,
                     enable_thinking: bool = False) -> dict[str, Any]:
        """The chat-completions body for these settings (denoising knobs only to a Diffusion Desk server)."""
        body: dict[str, Any] = {
            "model": self.model, "messages": messages, "stream": True, "max_tokens": settings.max_new_tokens,
            "stream_options": {"include_usage": True}, "chat_template_kwargs": {"enable_thinking": enable_thinking},
        }
        if settings.seed is not None:
            body["seed"] = settings.seed
        if self.per_step_frames:
            body["stream_options"]["include_drafts"] = True
            body["diffusion"] = {name: getattr(settings, name) for name in DENOISING_FIELDS}
        return body


def _json(url: str, body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        raise RemoteError(f"{url} did not answer with JSON; is this an OpenAI-compatible server?") from None
    if not isinstance(value, dict):
        raise RemoteError(f"{url} answered with unexpected JSON; is this an OpenAI-compatible server?")
    return value


def generate_remote(remote: RemoteModel, messages: list[dict[str, str]], settings: SamplerSettings, *,
                    cancel: threading.Event | None = None,
                    enable_thinking: bool = False) -> Iterator[RemoteFrame | CanvasDone | Done]:
    """Stream one answer from `remote` as `RemoteFrame`s (Diffusion Desk servers), `CanvasDone`s and one `Done`.

    Setting `cancel` hangs up within ~0.1 s, even while the server sends nothing (a busy Diffusion Desk says nothing
    until its queue reaches the request; without cancel that wait may last up to `STREAM_READ_TIMEOUT_S` between
    reads); the last event is then `Done(reason="cancelled")`. `RemoteError` when the server refuses or redirects,
    answers with anything but an event stream, sends a line over `MAX_LINE_BYTES` or an error event, or ends the
    stream before the answer finished (neither a finish_reason nor `[DONE]`): the events yielded until then stay
    valid, and the message quotes the text so far."""
    if not remote.connected:
        remote.connect()
    cancel = cancel or threading.Event()
    state = _StreamState(time.perf_counter())
    body = remote.request_body(messages, settings, enable_thinking=enable_thinking)
    hangup = Hangup(cancel)
    with remote.client(read_timeout=STREAM_READ_TIMEOUT_S) as client, hangup:
        try:
            with client.stream("POST", remote.url + "/chat/completions", json=body,
                               extensions=hangup.extensions) as response:
                check_answer(remote.url, remote.model, response)
                _check_event_stream(remote.url, response)
                for line in stream_lines(remote.url, response):
                    if cancel.is_set():
                        break
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        state.finished = True
                        break
                    yield from state.chunk(remote, _parse(remote, data))
        except (httpx2.HTTPError, httpx2.StreamError) as exc:  # a hang-up after cancel, or a dropped connection
            if not cancel.is_set():
                raise state.broken(remote.url, exc) from None
    if not cancel.is_set() and not state.complete:
        raise state.broken(remote.url, None)
    yield state.done("cancelled" if cancel.is_set() else None, settings)


def _check_event_stream(url: str, response: httpx2.Response) -> None:
    """`RemoteError` unless the answer is `text/event-stream` (a login page, a proxy's page or a non-streamed JSON
    answer would otherwise read as an empty answer)."""
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "text/event-stream":
        return
    hint = (' — it ignored "stream": true, so it cannot stream answers to Diffusion Desk' if kind == "application/json"
            else " — a login page, a proxy or another web server may be answering at this address")
    raise RemoteError(f"The server at {url} answered {clean_text(kind, 80) or 'without a content type'}, not an "
                      f"event stream{hint}; check the address (it usually ends in /v1).")


def _parse(remote: RemoteModel, data: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        raise RemoteError(f"{remote.url} sent a stream event that is not JSON.") from None
    if not isinstance(value, dict):
        raise RemoteError(f"{remote.url} sent an unexpected stream event.")
    error = value.get("error")
    if error:
        message = error.get("message") if isinstance(error, dict) else error
        raise RemoteError(f"The server at {remote.url} failed: {clean_text(message)}")
    return value


class _StreamState:
    """What one streamed answer has produced so far."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.first: float | None = None
        self.canvas_index = 0
        self.frames = 0
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.finish: str | None = None
        self.finished = False
        self.usage: dict[str, Any] = {}
        self.steps_in_canvas = 0

    def chunk(self, remote: RemoteModel, chunk: dict[str, Any]) -> Iterator[RemoteFrame | CanvasDone]:
        """Events for one stream chunk: a frame for a draft, a canvas for text, nothing for role or finish chunks."""
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        draft = chunk.get("draft")
        if isinstance(draft, dict):
            frame = _frame(draft, remote.canvas_length, time.perf_counter() - self.start)
            if frame is not None:
                self.first = self.first if self.first is not None else frame.elapsed_s
                self.frames += 1
                self.steps_in_canvas = frame.step
                yield frame
            return
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return
        choice = choices[0]
        self.finish = choice.get("finish_reason") or self.finish
        delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
        content = delta.get("content") if isinstance(delta.get("content"), str) else ""
        reasoning = next((delta[k] for k in ("reasoning_content", "reasoning") if isinstance(delta.get(k), str)), "")
        if not content and not reasoning:
            return
        self.first = self.first if self.first is not None else time.perf_counter() - self.start
        self.content.append(content)
        self.reasoning.append(reasoning)
        yield CanvasDone(self.canvas_index, [], content, self.steps_in_canvas)
        self.canvas_index += 1
        self.steps_in_canvas = 0

    @property
    def complete(self) -> bool:
        """Whether the server said the answer is finished (`[DONE]` or a finish_reason)."""
        return self.finished or self.finish is not None

    def broken(self, url: str, exc: Exception | None) -> RemoteError:
        """The error for a stream that broke off (`exc`: the transport error, if any), quoting the text so far."""
        text = "".join(self.content).strip()
        so_far = (f"the text so far is {clean_text(text, 120)!r} ({len(text)} characters)" if text
                  else "no text of the answer had arrived")
        if isinstance(exc, (httpx2.ConnectError, httpx2.ConnectTimeout)):
            return RemoteError(f"Cannot reach {url} ({type(exc).__name__}); check the address and that the server is "
                               "running.")
        if isinstance(exc, httpx2.ReadTimeout):
            return RemoteError(f"The server at {url} sent nothing for {STREAM_READ_TIMEOUT_S:g} s, so the answer was "
                               f"given up; it may be stuck or overloaded. {so_far[0].upper()}{so_far[1:]}.")
        cause = f" ({type(exc).__name__})" if exc is not None else ""
        return RemoteError(f"The stream from {url} ended before the answer finished{cause} — the server may have "
                           f"restarted or the connection dropped; {so_far}. Send the message again to retry.")

    def done(self, reason: str | None, settings: SamplerSettings) -> Done:
        """The closing `Done`: all text, the thought span, the finish reason and stats from the usage chunk."""
        seconds = time.perf_counter() - self.start
        reason = reason or {"length": "length"}.get(self.finish or "", "eos")
        text = "".join(self.content)
        tokens = self.usage.get("completion_tokens") if isinstance(self.usage.get("completion_tokens"), int) else 0
        prompt = self.usage.get("prompt_tokens") if isinstance(self.usage.get("prompt_tokens"), int) else 0
        stats = Stats(tokens=tokens, seconds=seconds, tokens_per_second=tokens / seconds if seconds > 0 else 0.0,
                      decoder_forwards=self.frames, tokens_per_forward=tokens / self.frames if self.frames else 0.0,
                      ttft_s=self.first if self.first is not None else seconds, canvases=self.canvas_index,
                      prompt_tokens=prompt, seed=settings.seed)
        return Done([], text.strip(), "".join(self.reasoning).strip(), reason, stats)


def _frame(draft: dict[str, Any], canvas_length: int, elapsed: float) -> RemoteFrame | None:
    """A `RemoteFrame` from a `draft` object, or None: a frame that is out of range is dropped (never repaired or
    trusted), so the answer goes on without it. Kept only when `ids` — and `canvas`, `accepted` and `entropy` when
    given (else: the ids, nothing accepted, zero entropy) — are lists of exactly `canvas_length` items; ids and
    canvas are integers 0…`MAX_TOKEN_ID`; entropies are finite numbers ≥ 0; and `canvas_index` (0…`MAX_CANVAS_INDEX`),
    `max_steps` (1…`MAX_FRAME_STEPS`) and `step` (0…max_steps) are integers."""
    ids = _token_ids(draft.get("ids"), canvas_length)
    canvas = _token_ids(draft.get("canvas", ids), canvas_length)
    accepted = draft.get("accepted", [0] * canvas_length)
    entropy = draft.get("entropy", [0.0] * canvas_length)
    index, step, steps = (draft.get(k) for k in ("canvas_index", "step", "max_steps"))
    if (ids is None or canvas is None or not isinstance(accepted, list) or len(accepted) != canvas_length
            or not _entropies_ok(entropy, canvas_length) or not _int_in(index, 0, MAX_CANVAS_INDEX)
            or not _int_in(steps, 1, MAX_FRAME_STEPS) or not _int_in(step, 0, steps)):
        return None
    text = draft.get("text") if isinstance(draft.get("text"), str) else ""
    return RemoteFrame(index, step, steps, canvas, ids, [bool(a) for a in accepted], [float(e) for e in entropy],
                       elapsed, text)


def _int_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _token_ids(value: Any, length: int) -> list[int] | None:
    """`value` when it is a list of `length` token ids (integers 0…`MAX_TOKEN_ID`), else None."""
    if not isinstance(value, list) or len(value) != length:
        return None
    return value if all(_int_in(i, 0, MAX_TOKEN_ID) for i in value) else None


def _entropies_ok(value: Any, length: int) -> bool:
    return (isinstance(value, list) and len(value) == length
            and all(isinstance(e, (int, float)) and not isinstance(e, bool) and math.isfinite(e) and e >= 0
                    for e in value))
