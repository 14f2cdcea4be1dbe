"""`WorkerQueue`: the `engine_queue` protocol of `engine.serve` run on the app's own `EngineWorker` thread, and
`ServerEvents`, which turns the server's hooks (called on the HTTP and engine threads) into Qt signals.

The server and the window share the one loaded model: a request's `job.run(em)` is queued on the worker thread
behind any chat answer already queued there, so the model is never used from two threads at once.
"""

from __future__ import annotations

import threading
from functools import partial
from typing import Any

from PySide6.QtCore import QObject, Signal

from engine import CanvasDone, CanvasStart, EngineError, Frame
from engine.serve.jobs import ServeJob, ServerStopping

from ..canvas.frame_codec import CanvasFrames, start_frame
from ..canvas.frame_throttle import FrameThrottle
from .rejections import note_queued


class WorkerQueue:
    """Runs `ServeJob`s on the `EngineWorker` thread, in arrival order; `max_waiting` bounds the waiting ones.

    `em` is the model the server was built for: a job that reaches the worker after another model was loaded is
    refused with a message rather than answered by a model the client did not ask for.
    """

    def __init__(self, worker: Any, em: Any, *, max_waiting: int = 64) -> None:
        self.worker, self.em, self.max_waiting = worker, em, max_waiting
        self._lock = threading.Lock()
        self._pending: list[ServeJob] = []
        self._open = False
        self.current: ServeJob | None = None

    def start(self) -> None:
        """Accept jobs (the worker thread already runs)."""
        with self._lock:
            self._open = True

    def waiting(self) -> int:
        """Jobs waiting for the worker (not counting the one running)."""
        with self._lock:
            return len(self._pending)

    def submit(self, job: ServeJob) -> bool:
        """Queue `job` on the worker thread; False when the queue is full or stopped (the server answers 429)."""
        with self._lock:
            if not self._open or len(self._pending) >= self.max_waiting:
                return False
            self._pending.append(job)
        self.worker.run_with_model(partial(self._run, job))
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Refuse new jobs, answer the waiting ones 503 and cancel the running one (it stops within one step)."""
        with self._lock:
            pending, self._pending, self._open = self._pending, [], False
            current = self.current
        for job in pending:
            _finish_unrun(job, ServerStopping("The server is shutting down; send the request again later."))
        if current is not None:
            current.request_cancel()

    def _run(self, job: ServeJob, em: Any) -> None:
        """On the worker thread: run `job` unless it was answered already (server stopped)."""
        with self._lock:
            if job not in self._pending:
                return
            self._pending.remove(job)
            self.current = job
        try:
            if em is None or em is not self.em:
                _finish_unrun(job, EngineError("The app's model changed; send the request again."))
            else:
                job.run(em)
        finally:
            with self._lock:
                self.current = None


def _finish_unrun(job: ServeJob, error: EngineError) -> None:
    job.request_cancel()
    job.sink(("error", error))
    job.record.state, job.record.reason, job.record.error = "finished", "cancelled", str(error)
    job.record.finished.set()
    if job.on_event is not None:
        job.on_event(job.record, None)


class ServerEvents(QObject):
    """The server's hooks as Qt signals (queued to the GUI thread). Frames are coalesced to ≤ 60 per second, but a
    canvas's step 0 and last frame always arrive, and each canvas's frames travel whole with `canvas_done`."""

    request_added = Signal(object)  # JobRecord (queued, or refused before queueing: state "rejected")
    frame = Signal(object, object)  # JobRecord, Frame
    canvas_done = Signal(object, object)  # JobRecord, CanvasFrames of the canvas
    finished = Signal(object)  # JobRecord (answered, failed or cancelled)

    def __init__(self, vocab_size: int = 2, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.vocab_size = vocab_size
        self._frames: list[Frame] = []
        self._start: Frame | None = None
        self._throttle = FrameThrottle()

    def on_request(self, record: Any, _request: Any) -> None:
        """`Server(on_request=…)`: called on the HTTP thread when a request is queued."""
        note_queued()  # it has its own row: `RejectionLog` does not add one if the server then refuses it
        self.request_added.emit(record)

    def on_rejected(self, record: Any) -> None:
        """`RejectionLog(on_rejected=…)`: called on the HTTP thread for a request refused before queueing."""
        self.request_added.emit(record)

    def on_event(self, record: Any, event: Any) -> None:
        """`Server(on_event=…)`: called on the engine thread for every engine event, and with None at the end."""
        if isinstance(event, CanvasStart):
            self._start = start_frame(event.canvas_index, event.canvas, event.max_steps, self.vocab_size)
            self._frames = []
            self.frame.emit(record, self._start)
            return
        if isinstance(event, Frame):
            self._frames.append(event)
            if (now := self._throttle.offer(event)) is not None:
                self.frame.emit(record, now)
            return
        if (last := self._throttle.flush()) is not None:  # never drop the last frame of a canvas
            self.frame.emit(record, last)
        if isinstance(event, CanvasDone):
            index = event.canvas_index
            start = self._start if self._start is not None and self._start.canvas_index == index else None
            self.canvas_done.emit(record, CanvasFrames([f for f in self._frames if f.canvas_index == index], start))
            self._frames = []
        elif event is None:
            self.finished.emit(record)
