"""`ServerController`: the Server switch's behaviour — start and stop `engine.serve.Server` on the app's own engine
worker (one loaded model, never used from two threads), keep the request log current and show server requests on
the Chat page's canvas live, unless the user is answering in the window (then the chat owns the canvas).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from engine import EngineError
from engine.serve import DEFAULT_HOST, DEFAULT_PORT, Server

from .api_key import ApiKeyStore
from .examples import example_prompt
from .rejections import RejectionLog
from .server_panel import ServerPanel, result_text
from .worker_queue import ServerEvents, WorkerQueue

log = logging.getLogger(__name__)
REFRESH_MS = 300


class ServerController(QObject):
    """Wires a `ServerPanel` to a `Server` whose jobs run on `worker` (an `EngineWorker`); `chat` is the
    `ChatController` whose canvas shows the server's requests."""

    started = Signal(object)  # Server (also for tests)
    stopped = Signal()
    _failed = Signal(str)

    def __init__(self, panel: ServerPanel, worker: Any, chat: Any, keys: ApiKeyStore | None = None) -> None:
        super().__init__(panel)
        self.panel, self.worker, self.chat = panel, worker, chat
        self.keys = keys or ApiKeyStore(self)
        self.server: Server | None = None
        self.host = DEFAULT_HOST
        self._wanted = False  # the switch's position; a start that lands after "off" is undone
        self._restart = False
        self._restart_port: int | None = None  # a restart binds the port the server had: clients keep their URL
        self._key = ""  # the key the server should require ("" none): the field's at switch-on, then each saved one
        self._model_id = "diffusion-gemma"  # the loaded model's name, for the examples while off
        self._showing: str | None = None  # the request id the canvas follows
        self._source = ""  # where the loaded model came from: the examples ask the demo model what it answers
        self.events = ServerEvents(parent=self)
        self.events.request_added.connect(panel.log_request)
        self.events.frame.connect(self._frame)
        self.events.canvas_done.connect(self._canvas_done)
        self.events.finished.connect(self._finished)
        self.started.connect(self._started)
        self.stopped.connect(self._stopped)
        self._failed.connect(self._start_failed)
        panel.switch_toggled.connect(self.set_on)
        panel.key_save_requested.connect(self.save_key)
        self.keys.loaded.connect(panel.show_key)
        self.keys.keyring_checked.connect(panel.show_keyring)
        self.keys.saved.connect(lambda note: panel.show_key_note(note, saved=bool(self.keys.key)))
        worker.model_loaded.connect(self._model_loaded)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(panel.refresh_log)
        self.keys.load()

    # -- switching ------------------------------------------------------------------------------------------------
    def set_on(self, on: bool) -> None:
        """Turn the server on or off (what the switch does)."""
        self._wanted = on
        if on and self.server is None:
            self._key = self.panel.key.text().strip()
            self._start()
        elif not on and self.server is not None:
            self._stop()

    def save_key(self, key: str) -> None:
        """Save key (also a cleared one): keep it, and a running server requires it at once — it restarts on its
        port with the new key (a request in progress is cancelled); a starting one restarts once it is up."""
        self.keys.save(key)
        self._key = self.keys.key
        if self.server is not None and self._wanted and not self._serves_key(self.server):
            self._restart_with("Applying the new key: restarting…" if self._key else
                               "Removing the key: restarting…")
        elif self.server is None and not self._wanted:
            self._show_off_examples()

    def _serves_key(self, server: Server) -> bool:
        """Whether `server` requires exactly the key the page asks for (none when it asks for none)."""
        return server.service.key == (self._key.encode() if self._key else None)

    def _restart_with(self, message: str) -> None:
        """Stop the running server and start it again (same port, the current key and model), saying `message`."""
        self._restart = True
        self._stop(message)

    def _start(self) -> None:
        port = self.panel.port.value() if self._restart_port is None else self._restart_port
        self._restart_port = None
        key = self._key or None
        self.panel.show_state("starting")
        self.worker.run_with_model(lambda em: self._build(em, port, key))

    def _build(self, em: Any, port: int, key: str | None) -> None:
        """On the engine thread (the model's owner): create, bind and start the server for `em`."""
        if em is None:
            self._failed.emit("Load a model first (Chat page, model picker); then turn the server on.")
            return
        if not hasattr(em, "chat_ids"):  # a remote server answers this window; there is no local model to serve
            self._failed.emit("The window is using a remote server; load a local model to serve it from here.")
            return
        self.events.vocab_size = int(getattr(em, "vocab_size", 2))
        try:
            server = Server(em, host=self.host, port=port, api_key=key, engine_queue=WorkerQueue(self.worker, em),
                            on_request=self.events.on_request, on_event=self.events.on_event)
            server.app.add_middleware(RejectionLog, on_rejected=self.events.on_rejected)  # outermost: sees every
            server.start()
        except EngineError as exc:
            self._failed.emit(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - say it in the panel; the window keeps running
            log.exception("the server could not start")
            self._failed.emit(f"The server could not start: {exc}")
            return
        self.started.emit(server)

    def _started(self, server: Server) -> None:
        self.server = server
        if not self._wanted:
            self._stop()
            return
        if not self._serves_key(server):  # the key was saved while it was starting
            self._restart_with("Applying the new key: restarting…")
            return
        self.panel.show_state("on", server.url, f"Serving {server.service.model_id} at {server.url}"
                              + (" (key required)" if server.service.key else
                                 " (no key needed: any program on this machine may use it)"))
        self._show_examples(server.url, server.service.model_id, bool(server.service.key))
        self._timer.start()

    def _start_failed(self, message: str) -> None:
        self._wanted = False
        self.panel.show_state("off", message=message)

    def _stop(self, message: str = "") -> None:
        server, self.server = self.server, None
        if server is None:
            return
        if self._restart:
            self._restart_port = server.port
        self.panel.show_state("stopping", message=message)
        # Stopping joins uvicorn's thread (a few seconds at most): never on the GUI thread.
        threading.Thread(target=lambda: (server.stop(), self.stopped.emit()), name="server-stop", daemon=True).start()

    def _stopped(self) -> None:
        self._timer.stop()
        self.panel.refresh_log()
        if self._restart and self._wanted:
            self._restart = False
            self._start()
            return
        self._restart, self._restart_port = False, None
        self.panel.show_state("off")

    def _model_loaded(self, info: Any) -> None:
        """Another model was loaded: a running server restarts to serve it; while off, the examples name it (a
        copied example asking for another model would get 404 model_not_found)."""
        self._source = str(getattr(info, "source", "") or "")
        self._model_id = str(getattr(info, "name", "") or "model")
        if self.server is not None and self._wanted:
            self._restart_with("")
        elif self.server is None:
            self._show_off_examples()

    def _show_off_examples(self) -> None:
        """While off: the examples for the address, model and saved key the server will have once on."""
        url = f"http://{DEFAULT_HOST}:{self.panel.port.value() or DEFAULT_PORT}/v1"
        self._show_examples(url, self._model_id, bool(self.keys.key))

    def _show_examples(self, url: str, model_id: str, has_key: bool) -> None:
        """The panel's examples for the served (or loaded) model, asking a question that model answers."""
        self.panel.show_examples(url, model_id, has_key, example_prompt(self._source))

    def shutdown(self) -> None:
        """The window closes: stop serving now (queued and running requests are cancelled)."""
        self._wanted = False
        server, self.server = self.server, None
        if server is not None:
            server.stop(timeout=3)

    # -- the canvas -----------------------------------------------------------------------------------------------
    def _canvas_free(self) -> bool:
        return not getattr(self.chat, "closed", False) and getattr(self.chat, "live", None) is None

    def _frame(self, record: Any, frame: Any) -> None:
        if not self._canvas_free():
            self._showing = None  # the user is answering in the window: the chat owns the canvas
            return
        canvas = self.chat.page.canvas
        if self._showing != record.id:
            if frame.step != 0 or frame.canvas_index != 0:
                return  # joined mid-request (a chat answer just ended): wait for this request's end
            self._showing = record.id
            canvas.begin_live()
            canvas.transport.show_status(f"Server request {record.id}")
        canvas.live_frame(frame)

    def _canvas_done(self, record: Any, frames: Any) -> None:
        self.panel.refresh_log()
        if self._showing == record.id and self._canvas_free():
            self.chat.page.canvas.add_canvas_frames(frames)

    def _finished(self, record: Any) -> None:
        self.panel.refresh_log()
        if self._showing == record.id:
            self._showing = None
            if self._canvas_free():
                canvas = self.chat.page.canvas
                canvas.end_live()
                canvas.transport.show_status(f"Server request {record.id}: {record.completion_tokens} tokens, "
                                             f"{result_text(record)}")
