"""◆ `python -m engine.serve`: an OpenAI-compatible server for one loaded DiffusionGemma model.

Routes: `GET /v1/models`, `POST /v1/chat/completions` (plain, or `"stream": true` for SSE ending `data: [DONE]`).

Request fields: `messages` (system / developer / user / assistant; text content or text parts), `model` (optional;
must be the served id), `max_tokens` / `max_completion_tokens` → `max_new_tokens`, `seed` → the sampler seed (same
seed, same settings → same answer), `temperature` T ∈ [0, 2] multiplies the model's linear temperature schedule
(t_min·T … t_max·T; 1 = the model's own, 0 = near-greedy, floored at 0.01), `stop` (strings cut the text; the
engine stops at the next canvas), `stream_options.include_usage`, `chat_template_kwargs.enable_thinking` or
`reasoning_effort` (low/medium/high) for thinking mode — the thought span comes back as `reasoning_content`, never
inside `content`. `usage` counts prompt and completion tokens (with a stop string, the tokens up to the cut).
`top_p`, penalties, `user` and other unknown fields are ignored; `tools`, `logprobs` / `top_logprobs`, images and
`n` > 1 are refused (422). Extension: `diffusion` = {max_denoising_steps, entropy_bound, t_min, t_max,
stability_threshold, confidence_threshold}.

Extension — live drafts: `"stream": true, "stream_options": {"include_drafts": true}` adds one chunk per denoising
step before each canvas's text: a normal `chat.completion.chunk` with an empty delta and a `draft` object
`{"canvas_index", "step", "max_steps", "text", "ids", "canvas", "accepted", "entropy"}` (the step's argmax canvas
as text and token ids, the noisy canvas the next step sees, the accepted mask as 0/1, per-position entropy).
Clients that do not know it see empty deltas (the official openai client yields them as chunks with
`delta.content == None`; `chunk.draft` holds the extra).

Queueing: one worker thread owns the model and answers requests one at a time in arrival order (up to 64 wait;
more get 429). A request whose client disconnects is cancelled: the engine stops before its next denoising step,
and a queued one never starts. Errors are OpenAI-shaped JSON: 400 unreadable body or a prompt too long for the
context (`context_length_exceeded`; one that can never fit is refused before it is tokenized), 401 missing/wrong
key, 404 unknown model or route, 408 headers or body not sent within 30 s, 413 too large, 415 not JSON, 421 Host
not this machine's on a loopback bind, 422 invalid field, 429 queue full, 503 `server_stopping` (Ctrl+C or `stop()`:
running and queued requests end with it — a started stream with a final error event — and the engine stops within
one step).

Security: binds 127.0.0.1 unless `--host` is given; `--host` is resolved once, and the address it binds decides
whether it is loopback (a warning is printed otherwise) and which Host names are served (localhost, 127.0.0.1,
[::1] and the bound address). `--api-key` or `DIFFUSION_DESK_API_KEY` (printable ASCII, no spaces) requires
`Authorization: Bearer <key>` (compared in constant time). Message content is literal text
(`EngineModel.chat_ids`): a `<|turn>` typed into a request never becomes a control token.

Python API for the desktop app: `Server(em, host=, port=, api_key=, on_request=, on_event=, engine_queue=,
read_timeout_s=)` with `start()` / `stop()` / `url` / `records`, or `create_app(em, api_key)` for any ASGI server.
"""

from __future__ import annotations

from .app import create_app
from .hosts import is_loopback
from .jobs import EngineQueue, JobRecord, ServeJob
from .schemas import ChatRequest, RequestError, parse_chat_request
from .server import DEFAULT_HOST, DEFAULT_PORT, Server

__all__ = [
    "DEFAULT_HOST", "DEFAULT_PORT", "ChatRequest", "EngineQueue", "JobRecord", "RequestError", "Server", "ServeJob",
    "create_app", "is_loopback", "parse_chat_request",
]
