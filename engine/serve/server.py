"""`Server`: uvicorn running `create_app` on a background thread (the app's Server switch, tests) or in the
foreground (`python -m engine.serve`)."""

from __future__ import annotations

import ipaddress
import socket
import threading
from typing import Any

import uvicorn

from ..errors import EngineError
from .app import RequestHook, create_app
from .jobs import EngineQueue, EventHook, JobRecord

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (127.0.0.0/8, ::1 or localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Server:
    """An OpenAI-compatible server for one loaded `EngineModel`.

    `start()` binds (port 0 picks a free one; see `.port` / `.url`) and serves on a daemon thread; `stop()` cancels
    running and queued requests and closes the socket. `records` lists recent requests (`JobRecord`s).
    """

    def __init__(self, em: Any, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, api_key: str | None = None,
                 engine_queue: EngineQueue | None = None, on_request: RequestHook | None = None,
                 on_event: EventHook | None = None, model_id: str | None = None) -> None:
        self.host, self.requested_port = host, port
        self.queue = engine_queue or EngineQueue(em)
        self.app = create_app(em, api_key, loopback_only=is_loopback(host), engine_queue=self.queue,
                              on_request=on_request, on_event=on_event, model_id=model_id)
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
        """The OpenAI base URL, e.g. `http://127.0.0.1:8765/v1`."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    @property
    def records(self) -> list[JobRecord]:
        """Recent requests, oldest first (at most 256): for a request log."""
        return self.service.records

    def bind(self) -> None:
        """Open the listening socket; `EngineError` when the port is taken or the host is not this machine's."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP; with proto 0 every
        # response waits ~40 ms for a delayed ACK (Nagle).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((self.host.strip("[]"), self.requested_port))
        except OSError as exc:
            sock.close()
            raise EngineError(f"Cannot listen on {self.host}:{self.requested_port} ({exc.strerror or exc}); "
                              "choose another --port (0 picks a free one) or --host.") from None
        sock.listen(128)
        sock.set_inheritable(True)
        self._socket = sock
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=3, timeout_keep_alive=5)
        self._uvicorn = uvicorn.Server(config)

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
        """Serve on this thread until Ctrl+C (uvicorn handles the signal), then stop the engine queue."""
        if self._socket is None:
            self.bind()
        self.queue.start()
        try:
            self._uvicorn.run(sockets=[self._socket])
        finally:
            self.queue.stop()
            self._close()

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel running and waiting requests, stop serving and close the socket."""
        self.queue.stop(timeout)
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
