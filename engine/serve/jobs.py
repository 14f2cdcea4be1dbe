"""The request queue: one worker thread owns the model and runs one `ServeJob` at a time, in arrival order.

A job does all tokenizer and model work on the worker (chat template, generation, decoding drafts and text) and
hands plain messages to its `sink`, which the HTTP side bridges into asyncio (`loop.call_soon_threadsafe`). Its
`cancel` Event is the engine's: set when the client disconnects or a stop string is found, checked between steps.
A desktop app that already has a worker owning the model can run jobs there instead: `job.run(em)` is the unit.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import EngineError
from ..events import CanvasDone, Done, Frame
from .schemas import ChatRequest
from .text import TextAssembler

log = logging.getLogger(__name__)
Sink = Callable[[tuple], None]
EventHook = Callable[["JobRecord", Any], None]
_ids = itertools.count(1)


class ServerStopping(EngineError):
    """The server stopped before this request could be answered."""


@dataclass
class JobRecord:
    """What the server knows about one request: for the app's request log and for tests (steps after cancel)."""

    id: str
    created: float
    stream: bool
    state: str = "queued"  # queued → running → finished
    steps: int = 0
    steps_at_cancel: int | None = None
    reason: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    error: str = ""
    finished: threading.Event = field(default_factory=threading.Event, repr=False)
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)  # the engine's cancel Event

    @property
    def steps_after_cancel(self) -> int | None:
        """Denoising steps the engine ran after the cancel was requested (None when it was not cancelled)."""
        return None if self.steps_at_cancel is None else self.steps - self.steps_at_cancel


class ServeJob:
    """One chat request to run on the model's thread; messages go to `sink` as tuples (kind, payload)."""

    def __init__(self, request: ChatRequest, sink: Sink, *, on_event: EventHook | None = None) -> None:
        self.request = request
        self.sink = sink
        self.on_event = on_event
        self.record = JobRecord(id=f"chatcmpl-{next(_ids):06d}{int(time.time() * 1000) % 10**9:09d}",
                                created=time.time(), stream=request.stream)
        self.cancel = self.record.cancel

    def request_cancel(self) -> None:
        """Ask the engine to stop (client gone): it stops before its next denoising step."""
        if not self.cancel.is_set() and self.record.state != "finished":
            self.record.steps_at_cancel = self.record.steps
            self.cancel.set()

    def run(self, em: Any) -> None:
        """Generate on the calling thread (the one that owns `em`), reporting to the sink; never raises."""
        from ..generation import generate

        record = self.record
        record.state = "running"
        try:
            if self.cancel.is_set():
                record.reason = "cancelled"
                self.sink(("cancelled",))
                return
            ids = em.chat_ids(self.request.messages, enable_thinking=self.request.enable_thinking)
            record.prompt_tokens = int(ids.shape[1])
            em.check_prompt_fits(record.prompt_tokens, self.request.settings.max_new_tokens)
            self.sink(("start", record.prompt_tokens))
            text = TextAssembler(em, self.request.stop)
            for event in generate(em, ids, self.request.settings, cancel=self.cancel):
                self._handle(em, event, text)
        except EngineError as exc:
            record.error = str(exc)
            self.sink(("error", exc))
        except Exception as exc:  # noqa: BLE001 — a bug must reach the client as a 500, not kill the worker
            log.exception("request %s failed", record.id)
            record.error = f"{type(exc).__name__}: {exc}"
            self.sink(("error", exc))
        finally:
            record.state = "finished"
            record.finished.set()
            if self.on_event is not None:
                self._hook(None)

    def _handle(self, em: Any, event: Any, text: TextAssembler) -> None:
        record = self.record
        if isinstance(event, Frame):
            record.steps += 1
            if self.request.include_drafts:
                self.sink(("draft", event, em.decode(event.draft)))
        elif isinstance(event, CanvasDone):
            content, reasoning = text.feed(event.token_ids)
            self.sink(("delta", content, reasoning))
            if text.stopped:
                self.cancel.set()  # a stop string ended the answer: no more canvases
        elif isinstance(event, Done):
            content, reasoning = text.finish()
            reason = "stop" if text.stopped else event.reason
            # usage counts the tokens the client gets: with a stop string, those up to the cut, not the whole canvas
            record.reason = reason
            record.completion_tokens = text.tokens_returned() if text.stopped else len(event.token_ids)
            record.seconds = event.stats.seconds
            self.sink(("done", content, reasoning, reason, record.completion_tokens, text.answer, text.thinking))
        self._hook(event)

    def _hook(self, event: Any) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(self.record, event)
        except Exception:  # noqa: BLE001 — the app's hook must not break a request
            pass


class EngineQueue:
    """A worker thread that owns `em` and runs submitted jobs one at a time (FIFO); `max_waiting` bounds the queue.

    `create_app` / `Server` need only `start()`, `submit(job) -> bool`, `waiting() -> int` and `stop()`: an app whose
    own worker already owns the model passes an object with those that runs `job.run(em)` on that worker, so the
    model is never used from two threads at once.
    """

    def __init__(self, em: Any, *, max_waiting: int = 64) -> None:
        self.em = em
        self.max_waiting = max_waiting
        self._jobs: queue.Queue[ServeJob | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.current: ServeJob | None = None

    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="diffusion-desk-serve", daemon=True)
                self._thread.start()

    def waiting(self) -> int:
        """Jobs waiting for the engine (not counting the one running)."""
        return self._jobs.qsize()

    def submit(self, job: ServeJob) -> bool:
        """Queue `job`; False when the queue is full (the caller answers 429)."""
        self.start()
        if self._jobs.qsize() >= self.max_waiting:
            return False
        self._jobs.put(job)
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel the running job and the waiting ones, and end the worker thread."""
        pending = []
        while True:
            try:
                pending.append(self._jobs.get_nowait())
            except queue.Empty:
                break
        for job in pending:
            if job is not None:
                job.request_cancel()
                job.sink(("error", ServerStopping("The server is shutting down; send the request again later.")))
                job.record.state, job.record.reason = "finished", "cancelled"
                job.record.finished.set()
        if self.current is not None:
            self.current.request_cancel()
        self._jobs.put(None)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            self.current = job
            try:
                job.run(self.em)
            finally:
                self.current = None
