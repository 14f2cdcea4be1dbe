"""`Server`: uvicorn running `create_app` on a background thread (the app's Server switch, tests) or in the
foreground (`python -m engine.serve`).

Stopping (Ctrl+C in the foreground, `stop()` from the app) runs one path: first the engine queue is stopped — the
running request is cancelled before its next denoising step and answered 503 `server_stopping` (a started stream
gets a final SSE error event), queued ones get the same 503 — and only then does uvicorn close connections and
wait out its grace period, which by then has nothing left to wait for.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from typing import Any

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from ..errors import EngineError
from .app import READ_TIMEOUT_S, RequestHook, create_app
from .hosts import allowed_host_names, bind_address, is_loopback
from .jobs import EngineQueue, EventHook, JobRecord

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
MAX_CONNECTIONS = 64  # open connections served at once (uvicorn answers 503 beyond; the engine queue is bounded too)

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "Server", "is_loopback"]


def _timeout_response() -> bytes:
    body = json.dumps({"error": {"message": "The request headers did not arrive in time; send the whole request at "
                                 "once.", "type": "invalid_request_error", "param": None,
                                 "code": "request_timeout"}}).encode()
    return (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode() + body)


class HeadDeadlineProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP protocol with a deadline for each request's head: a connection that has not sent complete
    headers within `head_timeout_s` of opening (or of its previous response) gets a 408 JSON error and is closed.

    uvicorn itself waits for headers forever, so slow or half-sent requests would pile up open connections; the
    body has its own deadline in the app (`read_timeout_s`, also 408).
    """

    head_timeout_s = READ_TIMEOUT_S

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm_head_deadline()

    def on_response_complete(self) -> None:
        self._arm_head_deadline()  # before the next pipelined request (if any) makes a new cycle
        super().on_response_complete()

    def _arm_head_deadline(self) -> None:
        self.loop.call_later(self.head_timeout_s, self._head_deadline, self.cycle)

    def _head_deadline(self, cycle: Any) -> None:
        """Close the connection unless a new request's headers arrived since the deadline was set."""
        if self.cycle is cycle and not self.transport.is_closing():
            self.transport.write(_timeout_response())
            self.transport.close()


class StoppingServer(uvicorn.Server):
    """A uvicorn server that runs `on_shutdown` (in a thread, so responses keep flowing) as soon as shutdown starts:
    before connections are closed and before the graceful-shutdown wait."""

    def __init__(self, config: uvicorn.Config, on_shutdown: Any) -> None:
        super().__init__(config)
        self.on_shutdown = on_shutdown

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await asyncio.to_thread(self.on_shutdown)
        await super().shutdown(sockets)


class Server:
    """An OpenAI-compatible server for one loaded `EngineModel`.

    `start()` binds (port 0 picks a free one; see `.port` / `.url`) and serves on a daemon thread; `stop()` cancels
    running and queued requests (503 `server_stopping`) and closes the socket. `records` lists recent requests
    (`JobRecord`s). `host` is resolved once (`hosts.bind_address`; `EngineError` when it does not resolve): a
    loopback address turns the Host check on, and the bound address is one of the Host names it accepts. At most
    `max_connections` connections are served at once; a request on one more gets 503 (clients retry), so a script
    that opens connections without end cannot run the app out of file handles.
    `api_key` must be printable ASCII without spaces (`EngineError` otherwise). Requests must send their headers,
    and then their body, within `read_timeout_s` seconds each (else 408).
    """

    def __init__(self, em: Any, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, api_key: str | None = None,
                 engine_queue: EngineQueue | None = None, on_request: RequestHook | None = None,
                 on_event: EventHook | None = None, model_id: str | None = None,
                 read_timeout_s: float = READ_TIMEOUT_S, max_connections: int = MAX_CONNECTIONS) -> None:
        self.host, self.requested_port = host, port
        self.max_connections = max_connections
        self.address = bind_address(host)
        self.read_timeout_s = read_timeout_s
        self.queue = engine_queue or EngineQueue(em)
        self.app = create_app(em, api_key, loopback_only=self.address.is_loopback, engine_queue=self.queue,
                              on_request=on_request, on_event=on_event, model_id=model_id,
                              allowed_hosts=allowed_host_names(host), read_timeout_s=read_timeout_s)
        self.service = self.app.state.service
        self._socket: socket.socket | None = None
        self._uvicorn: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (after `start()` / `bind()`)."""
        return self._socket.getsockname()[1] if self._socket else self.requested_port

    @property
    def url(self) -> str:
        """The OpenAI base URL at the bound address, e.g. `http://127.0.0.1:8765/v1` (also for `--host localhost`)."""
        return f"http://{self.address.url_host}:{self.port}/v1"

    @property
    def records(self) -> list[JobRecord]:
        """Recent requests, oldest first (at most 256): for a request log."""
        return self.service.records

    def bind(self) -> None:
        """Open the listening socket; `EngineError` when the port is taken or the host is not this machine's."""
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP; with proto 0 every
        # response waits ~40 ms for a delayed ACK (Nagle).
        sock = socket.socket(self.address.family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((self.address.address, self.requested_port))
        except OSError as exc:
            sock.close()
            raise EngineError(f"Cannot listen on {self.host}:{self.requested_port} ({exc.strerror or exc}); "
                              "choose another --port (0 picks a free one) or --host.") from None
        sock.listen(128)
        sock.set_inheritable(True)
        self._socket = sock
        protocol = type("HeadDeadline", (HeadDeadlineProtocol,), {"head_timeout_s": self.read_timeout_s})
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off", http=protocol,
                                timeout_graceful_shutdown=3, timeout_keep_alive=5,
                                limit_concurrency=self.max_connections)
        self._uvicorn = StoppingServer(config, self.stop_engine)

    def start(self) -> Server:
        """Serve on a background thread; returns once the socket accepts connections."""
        if self._socket is None:
            self.bind()
        self.queue.start()
        self._thread = threading.Thread(target=self._uvicorn.run, kwargs={"sockets": [self._socket]},
                                        name="diffusion-desk-http", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve on this thread until Ctrl+C; uvicorn's shutdown then stops the engine queue first (`stop_engine`)."""
        if self._socket is None:
            self.bind()
        self.queue.start()
        try:
            self._uvicorn.run(sockets=[self._socket])
        finally:
            self.stop_engine()
            self._close()

    def stop_engine(self, timeout: float = 10.0) -> None:
        """Answer new requests 503, then cancel the running request and the queued ones (each ends with 503
        `server_stopping`) and stop the engine queue; safe to call more than once."""
        self.service.stopping = True
        self.queue.stop(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel running and waiting requests, stop serving and close the socket."""
        self.stop_engine(timeout)
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._close()

    def _close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
