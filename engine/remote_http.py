"""The HTTP side of `engine.remote`, built so that a hostile or broken server can make a request fail but can never
hang the caller past its cancel or deadline, nor fill its memory.

- `Hangup` shuts a request's socket down when `cancel` is set or a deadline passes, waking a read blocked in it.
- Answers are read with caps: `MAX_LINE_BYTES` per stream line, `MAX_ERROR_BYTES` of an error body,
  `MAX_MODELS_BYTES` of a model list.
- `check_answer` refuses error statuses and redirects (the target is named, never followed: the API key stays with
  the server the user named).
- `clean_text` is how server text enters a message: no escape sequences, control characters or line breaks.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import unicodedata
from collections.abc import Iterator
from typing import Any

import httpx2

from .errors import EngineError

MAX_LINE_BYTES = 16 << 20
MAX_ERROR_BYTES = 64 << 10
MAX_MODELS_BYTES = 4 << 20
POLL_S = 0.05
ESCAPE_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?")
LINE_END = re.compile(rb"\r\n|\r|\n")


class RemoteError(EngineError):
    """The remote server cannot be used; the message names it and what to do."""


def clean_text(text: object, limit: int = 300) -> str:
    """`text` from a server, fit for a message: ANSI escape sequences removed, every other control or format
    character (line breaks and tabs included) a space, runs of spaces one space, at most `limit` characters
    (then cut with '…')."""
    text = ESCAPE_SEQUENCE.sub("", str(text))
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def size_text(size: int) -> str:
    """A byte count as the caps are written: '64 KiB', '16 MiB'."""
    return f"{size >> 20} MiB" if size >= 1 << 20 and size % (1 << 20) == 0 else f"{size >> 10} KiB"


class Hangup:
    """Hangs up one request's connection when `cancel` is set or `deadline_s` passes. Shutting the socket down wakes
    a read blocked in it (closing the response from another thread does not); the request then ends with an
    `httpx2` error or an early end of body, and `reason` ("cancelled" or "deadline", else None) says why.

    Use inside `with hangup:` and pass `hangup.extensions` to the request: its trace callback learns the socket as
    soon as it is connected, so even a server that never sends headers can be hung up on."""

    def __init__(self, cancel: threading.Event | None = None, deadline_s: float | None = None) -> None:
        self.cancel = cancel or threading.Event()
        self.deadline_s = deadline_s
        self.reason: str | None = None
        self.extensions = {"trace": self._trace}
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="remote-hangup", daemon=True)

    def __enter__(self) -> Hangup:
        self._watcher.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._finished.set()
            self._sock = None

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        stream = info.get("return_value") if event.endswith(".complete") else None
        sock = stream.get_extra_info("socket") if hasattr(stream, "get_extra_info") else None
        if isinstance(sock, socket.socket):  # after TLS the wrapping socket replaces the plain one
            with self._lock:
                self._sock = sock
                if self.reason is not None:
                    self._shut()

    def _watch(self) -> None:
        end = None if self.deadline_s is None else time.monotonic() + self.deadline_s
        while not self._finished.wait(POLL_S):
            reason = "cancelled" if self.cancel.is_set() else (
                "deadline" if end is not None and time.monotonic() >= end else None)
            if reason is not None:
                with self._lock:
                    if not self._finished.is_set():
                        self.reason = reason
                        self._shut()
                return

    def _shut(self) -> None:
        if self._sock is not None:
            try:  # the plain socket method: an SSL socket's own shutdown would drop its TLS state under the reader
                socket.socket.shutdown(self._sock, socket.SHUT_RDWR)
            except OSError:
                pass  # already closed


def read_capped(response: httpx2.Response, limit: int) -> tuple[bytes, bool]:
    """Up to `limit` bytes of the body, and whether there was more (the rest is not read)."""
    body = bytearray()
    for piece in response.iter_bytes():
        body += piece
        if len(body) > limit:
            return bytes(body[:limit]), True
    return bytes(body), False


def stream_lines(url: str, response: httpx2.Response) -> Iterator[str]:
    """The body's lines (split at CR, LF or CRLF; UTF-8, bad bytes replaced); `RemoteError` for a line longer than
    `MAX_LINE_BYTES` — it is not buffered further."""
    limit = MAX_LINE_BYTES
    pending = bytearray()
    for piece in response.iter_bytes():
        *ended, rest = LINE_END.split(piece)
        for part in ended:
            pending += part
            _check_line(url, pending, limit)
            yield pending.decode("utf-8", errors="replace")
            pending = bytearray()
        pending += rest
        _check_line(url, pending, limit)
    if pending:
        yield pending.decode("utf-8", errors="replace")


def _check_line(url: str, line: bytearray, limit: int) -> None:
    if len(line) > limit:
        raise RemoteError(f"The server at {url} sent a stream line longer than {size_text(limit)}; it is not a "
                          "working OpenAI-compatible server (check the address), or it is broken.")


def check_answer(url: str, model: str | None, response: httpx2.Response) -> None:
    """`RemoteError` for a redirect (its target named) or an error status (its message, from at most
    `MAX_ERROR_BYTES` of the body, cleaned); nothing for a success."""
    status = response.status_code
    if 300 <= status < 400:
        raise _redirect_error(url, response)
    if status < 400:
        return
    if status in (401, 403):  # the body is not read: the key is the problem whatever it says
        raise RemoteError(f"The server at {url} refused the API key ({status}); enter the key it was started with.")
    message, cut = _error_message(response)
    note = f" (its error text was cut at {size_text(MAX_ERROR_BYTES)})" if cut else ""
    if status == 404 and ("model" in message.lower() or response.request.url.path.endswith("/completions")):
        raise RemoteError(f"The server at {url} has no model {model!r} ({message or 'not found'}){note}.")
    if status == 404:
        raise RemoteError(f"{url} is not an OpenAI-compatible server (404 for {clean_text(response.request.url.path)});"
                          " the address usually ends in /v1.")
    raise RemoteError(f"The server at {url} answered {status}: "
                      f"{message or clean_text(response.reason_phrase) or 'an error'}{note}.")


def _redirect_error(url: str, response: httpx2.Response) -> RemoteError:
    location = response.headers.get("location", "")
    try:
        target = clean_text(response.request.url.join(location), 200) if location else ""
    except Exception:  # noqa: BLE001 — httpx2 raises several kinds for a malformed URL
        target = clean_text(location, 200)
    where = f"to {target}" if target else "elsewhere (without saying where)"
    return RemoteError(f"The server at {url} redirects {clean_text(response.request.url.path, 200)} {where}. "
                       "Diffusion Desk does not follow redirects, so the API key never leaves the server you named: "
                       "enter the address of the server it redirects to instead.")


def _error_message(response: httpx2.Response) -> tuple[str, bool]:
    """The error text of an error answer (OpenAI's `{"error": {"message": …}}`, else none), cleaned; and whether the
    body was longer than `MAX_ERROR_BYTES`."""
    body, cut = read_capped(response, MAX_ERROR_BYTES)
    try:
        detail = json.loads(body).get("error", {})
        message = detail.get("message", "") if isinstance(detail, dict) else detail
    except (ValueError, AttributeError):  # not JSON, or not the OpenAI error shape
        message = ""
    return clean_text(message or ""), cut
