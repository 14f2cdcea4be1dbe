"""`RejectionLog`: reports the requests the server refuses before queueing them — 400 unreadable JSON, 401 missing or
wrong key, 404 unknown model or URL, 405, 413, 415, 421 foreign Host, 422 invalid field — so the Requests log shows
them too, with their status and the server's own reason.

`engine.serve` calls `on_request` only for requests it queues, so this is an ASGI middleware around the server's
app: it watches each response's status and error body. A request that reached `on_request` (`note_queued`) has its
own row already (also when it then fails: 429 busy, 400 prompt too long, 503 stopping) and is not reported again.
"""

from __future__ import annotations

import http
import json
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.serve import JobRecord

MAX_ERROR_BODY = 8192  # an error body is a short JSON object; more is not read for the log
MAX_PATH = 80


@dataclass
class _Admission:
    """One HTTP request's flag: whether the server queued it (and so logged it through `on_request`)."""

    queued: bool = False


_admission: ContextVar[_Admission | None] = ContextVar("server_request_admission", default=None)


def note_queued() -> None:
    """Call from the server's `on_request` hook (it runs in the request's own task): this request is logged."""
    admission = _admission.get()
    if admission is not None:
        admission.queued = True


def rejected_record(method: str, path: str, status: int, body: bytes) -> JobRecord:
    """A log row for a refused request: "METHOD /path" as its id, state "rejected", "<status> <reason>" as error."""
    shown_path = "".join(c if c.isprintable() else "?" for c in path)[:MAX_PATH]  # the path is the client's text
    return JobRecord(id=f"{method} {shown_path}", created=time.time(), stream=False, state="rejected",
                     reason="rejected", error=f"{status} {rejection_reason(status, body)}")


def rejection_reason(status: int, body: bytes) -> str:
    """The server's message from an OpenAI-style error body, else the HTTP reason phrase ("Not Found")."""
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = ""
    if isinstance(message, str) and message.strip():
        return " ".join(message.split())
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "refused"


class RejectionLog:
    """ASGI middleware: `on_rejected(record)` (on the server's event loop) for each request answered with an error
    status before the server queued it. Add it outermost, so it also sees the Host check's 421."""

    def __init__(self, app: ASGIApp, on_rejected: Callable[[JobRecord], None]) -> None:
        self.app, self.on_rejected = app, on_rejected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        admission = _Admission()
        token = _admission.set(admission)
        seen: dict[str, Any] = {"status": 0, "body": b""}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = int(message["status"])
            elif message["type"] == "http.response.body" and seen["status"] >= 400 and not admission.queued:
                seen["body"] = (seen["body"] + message.get("body", b""))[:MAX_ERROR_BODY]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            _admission.reset(token)
            if seen["status"] >= 400 and not admission.queued:
                self._report(scope, seen["status"], seen["body"])

    def _report(self, scope: Scope, status: int, body: bytes) -> None:
        try:
            self.on_rejected(rejected_record(str(scope.get("method", "")), str(scope.get("path", "")), status, body))
        except Exception:  # noqa: BLE001 - the app's log must not break a response
            pass
