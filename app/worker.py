"""`EngineWorker`: the one place that owns a thread. A `QThread` holds the loaded `EngineModel`; requests go in
through queued signals, engine events come out as signals; cancel is a `threading.Event`.

Like superqt's generator workers, the thread only iterates `engine` generators and forwards what they yield,
so the engine stays testable without Qt. Live frames are coalesced to ≤ 60 per second, but the last frame of
every canvas is always delivered, and every frame of a canvas travels (packed for the store) with its
`CanvasDone` so nothing is lost for replay.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from engine import CanvasDone, CanvasStart, Done, EngineError, Frame, SamplerSettings

from .canvas.frame_codec import CanvasFrames, encode_canvas, start_frame
from .canvas.frame_throttle import FrameThrottle
from .chat.draft import TokenText
from .gpu.compiled_setup import CompiledSetup, compiled_path_error, on_cuda
from .models.model_sources import TINY_MODEL, load_engine_model
from .models.remote_source import (
    canvas_note,
    connect_remote,
    is_remote_model,
    is_remote_source,
    remote_defaults,
    remote_url,
)
from .worker_drafting import CompareRequest, RewriteRequest, run_compare, run_rewrite

log = logging.getLogger(__name__)

THOUGHT_OPEN, THOUGHT_CLOSE = "<|channel>", "<channel|>"  # Gemma 4's thought span markers


@dataclass(frozen=True)
class ModelInfo:
    """What the GUI needs to know about the loaded model (the model itself stays in the worker thread)."""

    name: str
    source: str
    device: str
    canvas_length: int
    pieces: list[str] = field(repr=False)
    defaults: dict[str, Any] = field(default_factory=dict)
    is_random: bool = False
    text: TokenText | None = None
    canvas_note: str = ""  # what the canvas says during an answer (a remote server without per-step frames)


@dataclass(frozen=True)
class GenerationRequest:
    """One answer to generate: the whole conversation so far, its settings (with a seed) and its session key."""

    request_id: int
    conversation_id: int
    messages: list[dict[str, str]]
    settings: SamplerSettings
    enable_thinking: bool = False


class _Runner(QObject):
    """Lives in the worker thread; its slots run there and may block it, never the GUI."""

    loading = Signal(str)
    loaded = Signal(object)
    frame = Signal(int, object)
    canvas_done = Signal(int, object, object, bytes)
    done = Signal(int, object)
    error = Signal(int, str)
    load_progress = Signal(object)  # engine LoadProgress
    notice = Signal(str)
    profile_suggested = Signal(str, str, str)  # source, suggested profile, the load error's message
    variant_frame = Signal(int, int, object)  # request id, variant index, Frame
    variant_canvas_done = Signal(int, int, object, object, bytes)
    variant_done = Signal(int, int, object)
    variant_error = Signal(int, str)
    infill_started = Signal(int, object)  # request id, engine InfillStart

    def __init__(self, compiled_on: Any = None) -> None:
        super().__init__()
        self.compiled = CompiledSetup(compiled_on or on_cuda, self.loading.emit, self.notice.emit)
        self._em: Any = None
        self._session: Any = None
        self._session_key: int | None = None
        self._cpu_threads: int | None = None  # None: the engine's default (physical cores − 1)
        self._threads_applied = False
        self.threads_used = 0

    @Slot(object)
    def set_cpu_threads(self, threads: object) -> None:
        """The CPU thread count for later answers (None or 0: the default); applied in this thread."""
        self._cpu_threads = int(threads) if threads else None
        self._threads_applied = False

    def _apply_threads(self) -> None:
        """torch keeps its thread count per OS thread, so it is set here, in the thread that runs the model."""
        if not self._threads_applied:
            from engine import set_cpu_threads

            self.threads_used = set_cpu_threads(self._cpu_threads)
            self._threads_applied = True

    @Slot(str, object, object)
    def load(self, source: str, prebuilt: object, placement: object) -> None:
        """Load a model (or take a prebuilt one) and announce it with its id→piece table."""
        if is_remote_source(source):
            self._load_remote(source)
            return
        label = "tiny random model" if source == TINY_MODEL else source
        self.loading.emit(f"Loading {label}…")
        try:
            self._apply_threads()
            device, profile = placement if isinstance(placement, tuple) else ("auto", None)
            em = prebuilt if prebuilt is not None else load_engine_model(
                source, device, profile, on_progress=self.load_progress.emit
            )
            self.compiled.apply(em)
            pieces = em.token_pieces()
            defaults = SamplerSettings.for_model(em).as_dict()
            text = _token_text(em, pieces)
        except EngineError as exc:
            suggestion = getattr(exc, "suggestion", None)
            if suggestion:
                self.profile_suggested.emit(source, str(suggestion), str(exc))
            self.error.emit(0, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - the window must keep running and say what happened
            log.error("model load failed\n%s", traceback.format_exc())
            self.error.emit(0, f"Could not load the model: {exc}")
            return
        self._em, self._session, self._session_key = em, None, None
        name = str(em.name)
        is_random = source == TINY_MODEL or prebuilt is not None and "random" in name.lower()
        info = ModelInfo(name, source, str(em.device), int(em.canvas_length), pieces, defaults, is_random, text)
        self.loaded.emit(info)

    def _load_remote(self, source: str) -> None:
        """Connect to a remote OpenAI-compatible server; it answers in place of a local model."""
        self.loading.emit(f"Connecting to {remote_url(source)}…")
        try:
            remote = connect_remote(source)
        except EngineError as exc:
            self.error.emit(0, str(exc))
            return
        self._em, self._session, self._session_key = remote, None, None
        # No tokenizer here: a one-entry piece table lets the canvas paint each step's cell states (noise, guess,
        # settled) without text; the text arrives with each canvas.
        self.loaded.emit(ModelInfo(remote.name, source, "remote", int(remote.canvas_length), [""],
                                   remote_defaults(), canvas_note=canvas_note(remote)))

    @Slot(bool)
    def set_compiled(self, enabled: bool) -> None:
        """The GPU-optimized path on or off; off drops it now (the session re-encodes), on applies at the next load."""
        self.compiled.enabled = bool(enabled)
        if not enabled and self._em is not None and getattr(self._em, "compiled", None) is not None:
            self._em.compiled = None
            self._session, self._session_key = None, None

    @Slot(object)
    def run_with_model(self, job: object) -> None:
        """Run `job(em)` here, in the thread that owns the model (`em` is None before a load): the app's server
        requests. Another generation used the model in between, so the chat's cached prefix is dropped."""
        self._apply_threads()
        self._session, self._session_key = None, None
        try:
            job(self._em)
        except Exception:  # noqa: BLE001 - a failing job must not end the engine thread
            log.error("a job on the engine thread failed\n%s", traceback.format_exc())

    @Slot(object, object)
    def compare(self, request: CompareRequest, cancel: threading.Event) -> None:
        """Variants denoised as one batch (issue 15); the chat's cached prefix is dropped, like a server job."""
        self._apply_threads()
        self._session, self._session_key = None, None
        run_compare(self, self._em, request, cancel)

    @Slot(object, object)
    def rewrite(self, request: RewriteRequest, cancel: threading.Event) -> None:
        """A selected span of an answer re-denoised in place (issue 15)."""
        self._apply_threads()
        self._session, self._session_key = None, None
        run_rewrite(self, self._em, request, cancel)

    @Slot(object, object)
    def generate(self, request: GenerationRequest, cancel: threading.Event) -> None:
        """Iterate one answer's events and forward them (frames coalesced, canvases whole). When the compiled path
        fails before the first canvas is committed, it is turned off for the session and the answer runs eagerly."""
        if self._em is None:
            self.error.emit(request.request_id, "No model is loaded yet. Pick one in the model list first.")
            return
        failure = self._answer(request, cancel)
        if failure is not None:
            self.compiled.fall_back(self._em, failure)
            self._session, self._session_key = None, None
            self._answer(request, cancel)

    def _answer(self, request: GenerationRequest, cancel: threading.Event) -> Exception | None:
        """One pass over the answer's events; returns a compiled-path error that may be retried eagerly."""
        rid = request.request_id
        self._apply_threads()
        frames: list[Frame] = []
        committed = False
        throttle = FrameThrottle()
        start: Frame | None = None
        try:
            for event in self._events(request, cancel):
                if isinstance(event, CanvasStart):  # step 0, always delivered: the random canvas the story starts from
                    start = start_frame(event.canvas_index, event.canvas, event.max_steps, self._em.vocab_size)
                    self.frame.emit(rid, start)
                    continue
                if isinstance(event, Frame):
                    frames.append(event)
                    if (now := throttle.offer(event)) is not None:
                        self.frame.emit(rid, now)
                    continue
                if (last := throttle.flush()) is not None:  # never drop the last frame of a canvas
                    self.frame.emit(rid, last)
                if isinstance(event, CanvasDone):
                    own_start = start if start is not None and start.canvas_index == event.canvas_index else None
                    canvas_frames = CanvasFrames([f for f in frames if f.canvas_index == event.canvas_index], own_start)
                    blob = encode_canvas(canvas_frames) if canvas_frames else b""
                    self.canvas_done.emit(rid, event, canvas_frames, blob)
                    frames, committed = [], True
                elif isinstance(event, Done):
                    self.done.emit(rid, event)
        except EngineError as exc:
            self._session, self._session_key = None, None
            if compiled_path_error(exc) and not committed and getattr(self._em, "compiled", None) is not None:
                return exc
            if compiled_path_error(exc):
                self.compiled.fall_back(self._em, exc)
            self.error.emit(rid, str(exc))
        except Exception as exc:  # noqa: BLE001
            log.error("generation failed\n%s", traceback.format_exc())
            self._session, self._session_key = None, None
            self.error.emit(rid, f"Generation failed: {exc}")
        return None

    def _events(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[Any]:
        """The engine's event stream; one `ChatSession` per conversation keeps its KV cache between turns."""
        from engine import ChatSession

        if is_remote_model(self._em):
            from engine.remote import generate_remote

            return generate_remote(self._em, request.messages, request.settings, cancel=cancel,
                                   enable_thinking=request.enable_thinking)
        if self._session is None or self._session_key != request.conversation_id:
            self._session, self._session_key = ChatSession(self._em), request.conversation_id
        return self._session.send(
            request.messages, request.settings, cancel=cancel, enable_thinking=request.enable_thinking
        )


def _token_text(em: Any, pieces: list[str]) -> TokenText:
    """The model's end-of-turn ids, the special ids a decoded answer never shows, and its thought markers."""
    tokenizer = em.tokenizer
    hidden = {int(i) for i in getattr(tokenizer, "all_special_ids", None) or ()}
    added = getattr(tokenizer, "added_tokens_decoder", None) or {}
    hidden.update(int(i) for i, token in added.items() if getattr(token, "special", False))
    marks: list[int | None] = []
    for token in (THOUGHT_OPEN, THOUGHT_CLOSE):
        tid = tokenizer.convert_tokens_to_ids(token) if tokenizer is not None else None
        marks.append(None if tid is None or tid == getattr(tokenizer, "unk_token_id", None) else int(tid))
    stops = frozenset(int(i) for i in em.eos_token_ids)
    return TokenText(pieces, stops, frozenset(hidden), marks[0], marks[1])


class EngineWorker(QObject):
    """GUI-side handle of the engine thread. All methods return at once; results arrive as signals."""

    model_loading = Signal(str)
    model_loaded = Signal(object)  # ModelInfo
    frame = Signal(int, object)  # request id, Frame (coalesced)
    canvas_done = Signal(int, object, object, bytes)  # request id, CanvasDone, its frames, packed frames
    done = Signal(int, object)  # request id, Done
    error = Signal(int, str)  # request id (0: model load), message
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

    def compare(self, chats: list[list[dict[str, str]]], settings: list[SamplerSettings]) -> int:
        """Queue variants (one chat and settings with a seed each) as one batch; returns the request id carried by
        `variant_*` signals. `cancel()` stops every variant between two steps."""
        self._next_id += 1
        self._cancel = threading.Event()
        self._compare_requested.emit(CompareRequest(self._next_id, [list(c) for c in chats], list(settings)),
                                     self._cancel)
        return self._next_id

    def rewrite(self, messages: list[dict[str, str]], answer: str, span: tuple[int, int], settings: SamplerSettings,
                instruction: str | None = None) -> int:
        """Queue a rewrite of characters `span` of `answer`; returns the request id carried by `infill_started`,
        `frame`, `canvas_done`, `done` and `error`. `Done.text` is the whole new answer."""
        self._next_id += 1
        self._cancel = threading.Event()
        request = RewriteRequest(self._next_id, list(messages), answer, (int(span[0]), int(span[1])), settings,
                                 instruction)
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
