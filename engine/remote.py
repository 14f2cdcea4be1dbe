"""A remote backend: any OpenAI-compatible server as a source of the same events as `engine.generate`.

`RemoteModel(url, api_key=None, model=None).connect()` checks the server (`/v1/models`) and picks the model;
`generate_remote(remote, messages, settings, cancel=…)` streams `/v1/chat/completions` and yields:
- from another Diffusion Desk (`python -m engine.serve`, which announces `diffusion.per_step_drafts`): a
  `RemoteFrame` per denoising step (the `include_drafts` extension: draft ids, noisy canvas, accepted mask, entropy
  and the draft's text), a `CanvasDone` per canvas and a `Done`;
- from vLLM (one whole canvas per stream chunk): a `CanvasDone` per chunk and a `Done` — no frames;
  `remote.per_step_frames` is False so a canvas view can say that per-step frames are not available there.
Remote events carry text, not token ids (`CanvasDone.token_ids` and `Done.token_ids` are empty: the ids of another
machine's tokenizer mean nothing here; `RemoteFrame.ids` are the server's). Failures are `RemoteError`s that say
what to do: unreachable (within ~3 s), key refused (401/403), unknown model, not a diffusion model, bad answers.
`cancel` (a `threading.Event`) closes the stream; the server then stops its generation (disconnect = cancel).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2

from .errors import EngineError
from .events import CanvasDone, Done, Frame, Stats
from .settings import SamplerSettings

CONNECT_TIMEOUT_S = 3.0
DIFFUSION_NAME = re.compile(r"diffusion", re.IGNORECASE)
DENOISING_FIELDS = ("max_denoising_steps", "entropy_bound", "t_min", "t_max", "stability_threshold",
                    "confidence_threshold")


class RemoteError(EngineError):
    """The remote server cannot be used; the message names it and what to do."""


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


class RemoteModel:
    """An OpenAI-compatible server and one of its models. After `connect()`: `.model`, `.per_step_frames`,
    `.canvas_length`, `.kind` ("diffusion-desk" or "openai-compatible") and `.name`."""

    def __init__(self, url: str, api_key: str | None = None, model: str | None = None, *,
                 require_diffusion: bool = True) -> None:
        self.url = _base_url(url)
        self.api_key = api_key or None
        self.model = model
        self.require_diffusion = require_diffusion
        self.per_step_frames = False
        self.canvas_length = 256
        self.kind = "openai-compatible"
        self.connected = False

    @property
    def name(self) -> str:
        """`model @ url`, for a model picker or a status bar."""
        return f"{self.model or '?'} @ {self.url}"

    def client(self, read_timeout: float | None = 60.0) -> httpx2.Client:
        """An HTTP client for this server: connect within 3 s, the key as a bearer token."""
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        timeout = httpx2.Timeout(read_timeout, connect=CONNECT_TIMEOUT_S)
        return httpx2.Client(timeout=timeout, headers=headers, follow_redirects=False, trust_env=False)

    def connect(self) -> RemoteModel:
        """Check the server and the model (`GET /models`); `RemoteError` with the reason when unusable."""
        with self.client(read_timeout=10.0) as client:
            response = _request(self, client, "GET", "/models")
            data = _json(self, response).get("data")
        if not isinstance(data, list) or not all(isinstance(m, dict) and isinstance(m.get("id"), str) for m in data):
            raise RemoteError(f"{self.url}/models did not list models; is this an OpenAI-compatible server?")
        ids = [m["id"] for m in data]
        if not ids:
            raise RemoteError(f"The server at {self.url} serves no model yet; start it with one.")
        chosen = self.model if self.model is not None else ids[0]
        entry = next((m for m in data if m["id"] == chosen), None)
        if entry is None:
            raise RemoteError(f"The server at {self.url} has no model {chosen!r}; it serves "
                              f"{', '.join(repr(i) for i in ids[:8])}. Pick one of those.")
        self.model = chosen
        diffusion = entry.get("diffusion") if isinstance(entry.get("diffusion"), dict) else None
        names = " ".join(str(entry.get(k, "")) for k in ("id", "root", "parent"))
        if diffusion is None and self.require_diffusion and not DIFFUSION_NAME.search(names):
            raise NotADiffusionModelError(
                f"{chosen!r} at {self.url} is not a diffusion model: Diffusion Desk shows denoising canvases, which "
                "only block-diffusion models such as DiffusionGemma produce. Serve a DiffusionGemma model there.")
        self.per_step_frames = bool(diffusion and diffusion.get("per_step_drafts"))
        self.kind = "diffusion-desk" if self.per_step_frames else "openai-compatible"
        canvas = diffusion.get("canvas_length") if diffusion else None
        self.canvas_length = canvas if isinstance(canvas, int) and canvas > 0 else 256
        self.connected = True
        return self

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


def _request(remote: RemoteModel, client: httpx2.Client, method: str, path: str, **kwargs: Any) -> httpx2.Response:
    try:
        response = client.request(method, remote.url + path, **kwargs)
    except httpx2.TimeoutException:
        raise RemoteError(f"The server at {remote.url} did not answer in time; check the address and that it is "
                          "running.") from None
    except httpx2.HTTPError as exc:
        raise RemoteError(f"Cannot reach {remote.url} ({type(exc).__name__}); check the address and that the "
                          "server is running.") from None
    _check_status(remote, response)
    return response


def _check_status(remote: RemoteModel, response: httpx2.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    try:
        response.read()
        detail = response.json().get("error", {})
        message = str(detail.get("message", "")) if isinstance(detail, dict) else str(detail)
    except Exception:  # noqa: BLE001 — not JSON, or not the OpenAI error shape
        message = ""
    message = message.strip()[:300]
    if status in (401, 403):
        raise RemoteError(f"The server at {remote.url} refused the API key ({status}); enter the key it was started "
                          "with.")
    if status == 404 and ("model" in message.lower() or response.request.url.path.endswith("/completions")):
        raise RemoteError(f"The server at {remote.url} has no model {remote.model!r} ({message or 'not found'}).")
    if status == 404:
        raise RemoteError(f"{remote.url} is not an OpenAI-compatible server (404 for {response.request.url.path}); "
                          "the address usually ends in /v1.")
    raise RemoteError(f"The server at {remote.url} answered {status}: {message or response.reason_phrase}.")


def _json(remote: RemoteModel, response: httpx2.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        raise RemoteError(f"{remote.url} did not answer with JSON; is this an OpenAI-compatible server?") from None
    if not isinstance(value, dict):
        raise RemoteError(f"{remote.url} answered with unexpected JSON; is this an OpenAI-compatible server?")
    return value


def _close_on_cancel(cancel: threading.Event, finished: threading.Event, response: httpx2.Response) -> None:
    while not finished.is_set():
        if cancel.wait(0.05):
            response.close()  # the server sees the disconnect and stops its generation
            return


def generate_remote(remote: RemoteModel, messages: list[dict[str, str]], settings: SamplerSettings, *,
                    cancel: threading.Event | None = None,
                    enable_thinking: bool = False) -> Iterator[RemoteFrame | CanvasDone | Done]:
    """Stream one answer from `remote` as `RemoteFrame`s (Diffusion Desk servers), `CanvasDone`s and one `Done`."""
    if not remote.connected:
        remote.connect()
    cancel = cancel or threading.Event()
    state = _StreamState(time.perf_counter())
    body = remote.request_body(messages, settings, enable_thinking=enable_thinking)
    with remote.client(read_timeout=600.0) as client:
        try:
            with client.stream("POST", remote.url + "/chat/completions", json=body) as response:
                _check_status(remote, response)
                finished = threading.Event()
                watcher = threading.Thread(target=_close_on_cancel, args=(cancel, finished, response), daemon=True)
                watcher.start()
                try:
                    for line in response.iter_lines():
                        if cancel.is_set():
                            break
                        if not line.startswith("data:"):
                            continue
                        data = line[5:].strip()
                        if data == "[DONE]":
                            break
                        yield from state.chunk(remote, _parse(remote, data))
                finally:
                    finished.set()
        except httpx2.TimeoutException:
            if not cancel.is_set():
                raise RemoteError(f"The server at {remote.url} stopped answering mid-stream.") from None
        except (httpx2.HTTPError, RuntimeError) as exc:  # a closed stream after cancel, or a dropped connection
            if not cancel.is_set():
                raise RemoteError(f"The connection to {remote.url} broke ({type(exc).__name__}).") from None
    yield state.done("cancelled" if cancel.is_set() else None, settings)


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
        raise RemoteError(f"The server at {remote.url} failed: {str(message)[:300]}")
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
        self.usage: dict[str, Any] = {}
        self.steps_in_canvas = 0

    def chunk(self, remote: RemoteModel, chunk: dict[str, Any]) -> Iterator[RemoteFrame | CanvasDone]:
        """Events for one stream chunk: a frame for a draft, a canvas for text, nothing for role or finish chunks."""
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        draft = chunk.get("draft")
        if isinstance(draft, dict):
            frame = _frame(draft, time.perf_counter() - self.start)
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


def _frame(draft: dict[str, Any], elapsed: float) -> RemoteFrame | None:
    """A `RemoteFrame` from a `draft` object, or None when it is malformed (it is skipped, never trusted)."""
    try:
        ids = [int(i) for i in draft.get("ids") or []]
        canvas = [int(i) for i in draft.get("canvas") or ids]
        accepted = [bool(a) for a in draft.get("accepted") or [False] * len(ids)]
        entropy = [float(e) for e in draft.get("entropy") or [0.0] * len(ids)]
        index, step, steps = int(draft["canvas_index"]), int(draft["step"]), int(draft["max_steps"])
        text = draft.get("text") if isinstance(draft.get("text"), str) else ""
    except (KeyError, TypeError, ValueError):
        return None
    if not len(ids) == len(canvas) == len(accepted) == len(entropy):
        return None
    return RemoteFrame(index, step, steps, canvas, ids, accepted, entropy, elapsed, text)
