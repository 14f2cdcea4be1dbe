"""`EngineWorker`: the one place that owns a thread. A `QThread` holds the loaded `EngineModel`; requests go in
through queued signals, engine events come out as signals; cancel is a `threading.Event`.

Like superqt's generator workers, the thread only iterates `engine` generators and forwards what they yield,
so the engine stays testable without Qt. Live frames are coalesced to ≤ 60 per second, but the last frame of
every canvas is always delivered, and every frame of a canvas travels (packed for the store) with its
`CanvasDone` so nothing is lost for replay.

This module is the GUI-side handle; what runs on the engine thread (`_Runner`) and the messages that cross to it
(`ModelInfo`, `GenerationRequest`) are in worker_runner.py and importable from here as before.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from engine import SamplerSettings

from .worker_drafting import CompareRequest, RewriteRequest
from .worker_runner import THOUGHT_CLOSE, THOUGHT_OPEN, GenerationRequest, ModelInfo, _Runner

__all__ = ["THOUGHT_CLOSE", "THOUGHT_OPEN", "EngineWorker", "GenerationRequest", "ModelInfo"]

log = logging.getLogger(__name__)


class EngineWorker(QObject):
    """GUI-side handle of the engine thread. All methods return at once; results arrive as signals."""

    model_loading = Signal(str)
    model_loaded = Signal(object)  # ModelInfo
    frame = Signal(int, object)  # request id, Frame (coalesced)
    canvas_done = Signal(int, object, object, bytes)  # request id, CanvasDone, its frames, packed frames
    done = Signal(int, object)  # request id, Done
    error = Signal(int, str)  # request id (0: model load), message
    too_long = Signal(int, str)  # a chat answer's request id, the message: the conversation outgrew the context
    load_progress = Signal(object)  # engine LoadProgress: stage, done, total, unit, message, fraction
    notice = Signal(str)  # a message for the banner (e.g. the GPU-optimized path turned itself off)
    profile_suggested = Signal(str, str, str)  # source, a profile that would fit, the load error's message
    variant_frame = Signal(int, int, object)  # compare request id, variant index, Frame (coalesced)
    variant_canvas_done = Signal(int, int, object, object, bytes)  # … CanvasDone, its frames, packed frames
    variant_done = Signal(int, int, object)  # compare request id, variant index, Done
    variant_error = Signal(int, str)  # compare request id, message
    infill_started = Signal(int, object)  # rewrite request id, InfillStart (then frame/canvas_done/done/error)

    _compare_requested = Signal(object, object)
    _rewrite_requested = Signal(object, object)
    _load_requested = Signal(str, object, object)
    _generate_requested = Signal(object, object)
    _threads_requested = Signal(object)
    _job_requested = Signal(object)
    _compiled_requested = Signal(bool)

    def __init__(self, parent: QObject | None = None, *, compiled_on: Any = None) -> None:
        """`compiled_on(em)` says whether a loaded model takes the compiled path (default: it is on CUDA)."""
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("engineWorker")
        self._runner = _Runner(compiled_on)
        self._runner.moveToThread(self._thread)
        self._load_requested.connect(self._runner.load)
        self._generate_requested.connect(self._runner.generate)
        self._compare_requested.connect(self._runner.compare)
        self._rewrite_requested.connect(self._runner.rewrite)
        for name in ("variant_frame", "variant_canvas_done", "variant_done", "variant_error", "infill_started"):
            getattr(self._runner, name).connect(getattr(self, name))
        self._threads_requested.connect(self._runner.set_cpu_threads)
        self._job_requested.connect(self._runner.run_with_model)
        self._compiled_requested.connect(self._runner.set_compiled)
        self._runner.load_progress.connect(self.load_progress)
        self._runner.notice.connect(self.notice)
        self._runner.profile_suggested.connect(self.profile_suggested)
        self._runner.loading.connect(self.model_loading)
        self._runner.loaded.connect(self.model_loaded)
        self._runner.frame.connect(self.frame)
        self._runner.canvas_done.connect(self.canvas_done)
        self._runner.done.connect(self.done)
        self._runner.error.connect(self.error)
        self._runner.too_long.connect(self.too_long)
        self._cancel: threading.Event | None = None
        self._next_id = 0
        self._thread.start()

    def load(self, source: str, device: str = "auto", profile: str | None = None) -> None:
        """Load a model folder, a cached hub id, or `TINY_MODEL` in the worker thread, on `device`."""
        self._load_requested.emit(source, None, (device, profile))

    def use_model(self, em: object, source: str = "") -> None:
        """Hand an already-built `EngineModel` to the worker thread (tests, scripts); the caller lets go of it."""
        self._load_requested.emit(source or str(getattr(em, "name", "in-memory model")), em, None)

    def generate(
        self,
        conversation_id: int,
        messages: list[dict[str, str]],
        settings: SamplerSettings,
        enable_thinking: bool = False,
    ) -> int:
        """Queue one answer; returns its request id (carried by every signal about it)."""
        self._next_id += 1
        self._cancel = threading.Event()
        request = GenerationRequest(self._next_id, conversation_id, list(messages), settings, enable_thinking)
        self._generate_requested.emit(request, self._cancel)
        return self._next_id

    def compare(self, chats: list[list[dict[str, str]]], settings: list[SamplerSettings],
                thinking: list[bool] | None = None) -> int:
        """Queue variants (one chat and settings with a seed each, `thinking[i]` to let variant i think first) as one
        batch; returns the request id carried by `variant_*` signals. `cancel()` stops every variant between two
        steps."""
        self._next_id += 1
        self._cancel = threading.Event()
        request = CompareRequest(self._next_id, [list(c) for c in chats], list(settings),
                                 [bool(t) for t in thinking or ()])
        self._compare_requested.emit(request, self._cancel)
        return self._next_id

    def rewrite(self, messages: list[dict[str, str]], answer: str, span: tuple[int, int], settings: SamplerSettings,
                instruction: str | None = None, *, enable_thinking: bool = False, thought: str = "") -> int:
        """Queue a rewrite of characters `span` of `answer` (written after `thought` in a Thinking chat); returns the
        request id carried by `infill_started`, `frame`, `canvas_done`, `done` and `error`. `Done.text` is the whole
        new answer."""
        self._next_id += 1
        self._cancel = threading.Event()
        request = RewriteRequest(self._next_id, list(messages), answer, (int(span[0]), int(span[1])), settings,
                                 instruction, enable_thinking, thought)
        self._rewrite_requested.emit(request, self._cancel)
        return self._next_id

    def run_with_model(self, job: Callable[[Any], None]) -> None:
        """Queue `job(em)` on the engine thread, after the answers and jobs queued before it (the server's requests
        wait their turn behind a chat answer). Callable from any thread; `em` is None when no model is loaded."""
        self._job_requested.emit(job)

    def set_cpu_threads(self, threads: int | None) -> None:
        """How many CPU threads the engine uses from the next answer on (None or 0: physical cores − 1)."""
        self._threads_requested.emit(threads)

    @property
    def compiled_on(self) -> Any:
        """The predicate `compiled_on(em)` that decides whether a loaded model takes the compiled path."""
        return self._runner.compiled.compiled_on

    @compiled_on.setter
    def compiled_on(self, predicate: Any) -> None:
        self._runner.compiled.compiled_on = predicate  # read by the worker thread at the next load

    def set_compiled(self, enabled: bool) -> None:
        """Turn the GPU-optimized (compiled) path on (from the next load) or off (now)."""
        self._compiled_requested.emit(bool(enabled))

    def cpu_threads(self) -> int:
        """The thread count the worker applied last (0 before its first load or answer)."""
        return self._runner.threads_used

    def cancel(self) -> None:
        """Stop the running answer between two denoising steps (its committed canvases stay)."""
        if self._cancel is not None:
            self._cancel.set()

    def shutdown(self, timeout_ms: int = 120_000) -> None:
        """Cancel, stop the thread and wait for it (called when the window closes). An answer stops within one
        denoising step; a model load cannot be interrupted, so closing during one waits for it to finish."""
        self.cancel()
        self._thread.quit()
        if not self._thread.wait(timeout_ms):
            log.warning("the engine thread did not stop within %d ms", timeout_ms)
