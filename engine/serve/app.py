"""The ASGI app: `/v1/models` and `/v1/chat/completions` over one `EngineQueue`, with key and Host checks.

Security (the body, headers and Host are untrusted): an optional bearer key (printable ASCII) compared in constant
time (`hmac.compare_digest`); on a loopback bind only loopback Host names are served (`hosts`: a web page that
re-points its own name at 127.0.0.1 — DNS rebinding — is refused); POST bodies must be `application/json` (a page's
cross-site form post cannot pass without a CORS pre-flight, which this server never grants) and must arrive within
`read_timeout_s` (else 408); bodies are checked in `schemas`, and a prompt that can never fit the context is refused
before it is tokenized (`prompt_bound`). Once the server is stopping, new requests get 503 `server_stopping`, and a
request the stop cancelled ends with that error too, never with a cut-short answer.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import EngineError, PromptTooLongError
from ..settings import SamplerSettings
from .hosts import LOOPBACK_NAMES, HostCheck
from .jobs import EngineQueue, EventHook, JobRecord, ServeJob, ServerStopping
from .prompt_bound import PromptBound
from .schemas import MAX_BODY_BYTES, ChatRequest, RequestError, parse_chat_request
from .sse import CancellingStream, completion, stream_events, wait_disconnect

log = logging.getLogger(__name__)
RequestHook = Callable[[JobRecord, ChatRequest], None]
READ_TIMEOUT_S = 30.0
STOPPING_MESSAGE = "The server is shutting down; send the request again later."
_CLOSING_STATUSES = (408, 413)  # the rest of the body is not read: the connection cannot carry another request


def check_api_key(key: str, what: str = "The API key") -> None:
    """Raise `EngineError` unless `key` is 1 to 4096 printable ASCII characters without spaces (`what` names it in
    the message).

    HTTP servers read header bytes as Latin-1, so a key with other characters could never match the header a client
    sends; spaces would be cut from the Bearer token.
    """
    if not key or len(key) > 4096 or not all("!" <= c <= "~" for c in key):
        raise EngineError(f"{what} must be printable ASCII without spaces, at most 4096 characters (letters, digits "
                          "and symbols such as - _ . ~); choose another key.")


def error_response(error: RequestError) -> JSONResponse:
    """An OpenAI-style error as a JSON response (408 and 413 also close the connection: the body was not read)."""
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else {}
    if error.status in _CLOSING_STATUSES:
        headers["Connection"] = "close"
    return JSONResponse(error.body(), status_code=error.status, headers=headers or None)


def engine_error(exc: BaseException) -> RequestError:
    """An engine failure as the error a client sees (a bug is a 500 without internals)."""
    if isinstance(exc, PromptTooLongError):
        return RequestError(400, str(exc), param="messages", code="context_length_exceeded")
    if isinstance(exc, ServerStopping):
        return RequestError(503, str(exc), kind="server_error", code="server_stopping")
    if isinstance(exc, EngineError):
        return RequestError(400, str(exc), code="engine_error")
    return RequestError(500, "The engine failed on this request; see the server's log.", kind="server_error",
                        code="internal_error")


class ChatService:
    """The routes' state: the engine queue, the served model's id and defaults, the key and the hooks."""

    def __init__(self, em: Any, *, api_key: str | None, engine_queue: EngineQueue | None,
                 on_request: RequestHook | None, on_event: EventHook | None, model_id: str | None,
                 read_timeout_s: float = READ_TIMEOUT_S) -> None:
        if api_key:
            check_api_key(api_key)
        self.em = em
        self.model_id = model_id or str(getattr(em, "name", "model"))
        self.defaults = SamplerSettings.for_model(em)
        self.key = api_key.encode() if api_key else None
        self.queue = engine_queue or EngineQueue(em)
        self.on_request, self.on_event = on_request, on_event
        self.records: list[JobRecord] = []
        self.created = int(time.time())
        self.read_timeout_s = read_timeout_s
        self.prompt_bound = PromptBound(em)
        self.stopping = False  # set by `Server` when shutdown starts: new requests get 503, cancelled ones too

    def check_key(self, request: Request) -> None:
        """Raise a 401 `RequestError` unless the request carries the server's bearer key (constant-time compare)."""
        if self.key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        given = token.strip().encode("utf-8", "replace") if scheme.lower() == "bearer" else b""
        if not hmac.compare_digest(given, self.key):
            what = "No API key was given" if not given else "The API key is not valid"
            raise RequestError(401, f"{what}: send 'Authorization: Bearer <key>' with this server's key.",
                               code="invalid_api_key")

    def model_entry(self) -> dict[str, Any]:
        """The served model as a `/v1/models` entry, with the `diffusion` extension clients detect us by."""
        gc = self.defaults
        return {"id": self.model_id, "object": "model", "created": self.created, "owned_by": "diffusion-desk",
                "max_model_len": int(self.em.context_length),
                "diffusion": {"canvas_length": int(self.em.canvas_length), "max_denoising_steps":
                              gc.max_denoising_steps, "per_step_drafts": True, "server": "diffusion-desk"}}

    async def models(self, request: Request) -> Response:
        """`GET /v1/models`."""
        try:
            self.check_key(request)
        except RequestError as exc:
            return error_response(exc)
        return JSONResponse({"object": "list", "data": [self.model_entry()]})

    async def chat(self, request: Request) -> Response:
        """`POST /v1/chat/completions`: check key, media type and body at the border, then queue the job."""
        try:
            self.check_key(request)
            kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind != "application/json":
                raise RequestError(415, "Send the body as JSON with 'Content-Type: application/json'.",
                                   code="unsupported_media_type")
            raw = await _read_body(request, self.read_timeout_s)
            if self.stopping:
                raise ServerStopping(STOPPING_MESSAGE)
            parsed = parse_chat_request(raw, model_id=self.model_id, defaults=self.defaults)
            self.prompt_bound.check(parsed)
        except RequestError as exc:
            return error_response(exc)
        except EngineError as exc:
            return error_response(engine_error(exc))
        except ClientDisconnect:  # the client left mid-upload: nobody to answer, nothing worth a traceback
            log.debug("a client disconnected while sending its request body")
            return Response(status_code=499)
        return await self._answer(request, parsed)

    def _stopped_if_stopping(self, item: tuple) -> tuple:
        """A job's message as the client should see it: an answer the server's stop cut short is a 503 error."""
        if self.stopping and (item[0] == "cancelled" or item[0] == "done" and item[3] == "cancelled"):
            return ("error", ServerStopping(STOPPING_MESSAGE))
        return item

    async def _answer(self, request: Request, parsed: ChatRequest) -> Response:
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()

        def sink(item: tuple) -> None:
            try:
                loop.call_soon_threadsafe(events.put_nowait, self._stopped_if_stopping(item))
            except RuntimeError:  # the loop is gone (server stopping)
                job.request_cancel()

        job = ServeJob(parsed, sink, on_event=self.on_event)
        self.records.append(job.record)
        del self.records[:-256]
        if self.on_request is not None:  # before the engine can see the job, so the app sees every event of it
            try:
                self.on_request(job.record, parsed)
            except Exception:  # noqa: BLE001 — the app's hook must not break a request
                pass
        if not self.queue.submit(job):
            job.record.state, job.record.reason = "finished", "rejected"
            job.record.finished.set()
            return error_response(RequestError(429, f"The server is busy ({self.queue.waiting()} requests waiting); "
                                               "retry shortly.", kind="server_error", code="queue_full"))
        meta = {"id": job.record.id, "created": int(job.record.created), "model": self.model_id}
        # Wait for the engine to take the request (or refuse it) while watching for the client leaving.
        first = await _until_disconnect(request, events.get(), job.request_cancel)
        if first is None or first[0] == "cancelled":
            return Response(status_code=499)
        if first[0] == "error":
            return error_response(engine_error(first[1]))
        prompt_tokens = first[1]
        if parsed.stream:
            body = stream_events(meta, events, include_usage=parsed.include_usage, prompt_tokens=prompt_tokens,
                                 error_body=lambda exc: engine_error(exc).body())
            return CancellingStream(body, job.request_cancel)
        return await _until_disconnect(request, self._collect(meta, events, prompt_tokens), job.request_cancel) \
            or Response(status_code=499)

    async def _collect(self, meta: dict[str, Any], events: asyncio.Queue, prompt_tokens: int) -> Response:
        while True:
            item = await events.get()
            if item[0] == "done":
                _, _, _, reason, completion_tokens, answer, thinking = item
                return JSONResponse(completion(meta, answer, thinking, reason, completion_tokens, prompt_tokens))
            if item[0] == "error":
                return error_response(engine_error(item[1]))
            if item[0] == "cancelled":
                return Response(status_code=499)


async def _read_body(request: Request, timeout_s: float) -> bytes:
    """The request body: 413 when it is larger than `MAX_BODY_BYTES`, 408 when it has not all arrived within
    `timeout_s` seconds; `ClientDisconnect` when the client leaves first."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise RequestError(413, f"The request body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB.",
                           code="request_too_large")
    parts, size = [], 0
    with anyio.move_on_after(timeout_s) as deadline:
        async for part in request.stream():
            size += len(part)
            if size > MAX_BODY_BYTES:
                raise RequestError(413, f"The request body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB.",
                                   code="request_too_large")
            parts.append(part)
    if deadline.cancelled_caught:
        raise RequestError(408, f"The request body did not arrive within {timeout_s:g} s; send the whole body "
                           "at once (and check the Content-Length header).", code="request_timeout")
    return b"".join(parts)


async def _until_disconnect(request: Request, work: Any, on_disconnect: Callable[[], None]) -> Any:
    """Await `work`; if the client disconnects first, call `on_disconnect` and return None."""
    result = None
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            await wait_disconnect(request.receive)
            on_disconnect()
            group.cancel_scope.cancel()

        group.start_soon(watch)
        result = await work
        group.cancel_scope.cancel()
    return result


ROUTE_PATHS = ("/v1/models", "/v1/chat/completions")


async def _not_found(request: Request, exc: Exception) -> Response:
    path = request.url.path
    hint = f"; use {path.rstrip('/')!r} without the trailing slash" if path.rstrip("/") in ROUTE_PATHS else ""
    return error_response(RequestError(404, f"No route {path[:100]!r}{hint}; this server has /v1/models and "
                                       "/v1/chat/completions.", code="unknown_url"))


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return error_response(RequestError(405, f"{request.method} is not allowed on {request.url.path[:100]!r}.",
                                       code="method_not_allowed"))


def create_app(em: Any, api_key: str | None = None, *, loopback_only: bool = True,
               engine_queue: EngineQueue | None = None, on_request: RequestHook | None = None,
               on_event: EventHook | None = None, model_id: str | None = None,
               allowed_hosts: frozenset[str] = LOOPBACK_NAMES, read_timeout_s: float = READ_TIMEOUT_S) -> Starlette:
    """The OpenAI-compatible ASGI app serving `em` (an `EngineModel`).

    `api_key` must be printable ASCII without spaces (`EngineError` otherwise). With `loopback_only`, requests whose
    Host header is not one of `allowed_hosts` get 421. A body must arrive within `read_timeout_s` seconds (else 408).

    `engine_queue` runs the jobs (default: a new `EngineQueue` whose worker thread owns `em`; pass one whose jobs
    run on the thread that already owns the model to share it). `on_request(record, request)` is called on the
    event loop when a request is queued; `on_event(record, event)` on the engine's thread for every engine event
    (`CanvasStart`/`Frame`/`CanvasDone`/`Done`) and once with `None` when the request ends. `app.state.service`
    holds the `ChatService` (its `records` list the recent requests).
    """
    service = ChatService(em, api_key=api_key, engine_queue=engine_queue, on_request=on_request, on_event=on_event,
                          model_id=model_id, read_timeout_s=read_timeout_s)
    app = Starlette(routes=[
        Route(ROUTE_PATHS[0], service.models, methods=["GET"]),
        Route(ROUTE_PATHS[1], service.chat, methods=["POST"]),
    ], exception_handlers={404: _not_found, 405: _not_allowed})
    app.router.redirect_slashes = False  # a redirect answers with an empty, non-JSON body; the 404 says what to use
    app.state.service = service
    if loopback_only:
        app.add_middleware(HostCheck, allowed=allowed_hosts)
    return app
