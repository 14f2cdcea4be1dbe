"""The engine thread's side of `EngineWorker`: `_Runner` lives in the worker `QThread`, holds the loaded
`EngineModel` and runs each request's slot there; `ModelInfo` and `GenerationRequest` are what crosses between the
GUI and that thread. Split from worker.py (the GUI-side handle), which re-exports these names.

Like superqt's generator workers, the runner only iterates `engine` generators and forwards what they yield.
Live frames are coalesced to ≤ 60 per second, but the last frame of every canvas is always delivered, and every
frame of a canvas travels (packed for the store) with its `CanvasDone` so nothing is lost for replay.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from engine import CanvasDone, CanvasStart, Done, EngineError, Frame, PromptTooLongError, SamplerSettings

from .canvas.frame_codec import CanvasFrames, encode_canvas, start_frame
from .canvas.frame_throttle import FrameThrottle
from .chat.draft import TokenText
from .gpu.compiled_setup import CompiledSetup, compiled_path_error, on_cuda
from .models.model_sources import TINY_MODEL, load_engine_model, model_label
from .models.remote_source import (
    canvas_note,
    connect_remote,
    is_remote_model,
    is_remote_source,
    remote_defaults,
    remote_url,
)
from .worker_drafting import CompareRequest, RewriteRequest, run_compare, run_rewrite

log = logging.getLogger("app.worker")  # the engine thread logs under the worker's name, as before the split

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
    too_long = Signal(int, str)  # a chat answer's request id: the conversation outgrew the model's context
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
        self._info: ModelInfo | None = None  # what `loaded` last announced: still loaded after a failed load
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
            self._load_failed(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - the window must keep running and say what happened
            log.error("model load failed\n%s", traceback.format_exc())
            self._load_failed(f"Could not load the model: {exc}")
            return
        self._em, self._session, self._session_key = em, None, None
        name = str(em.name)
        is_random = source == TINY_MODEL or prebuilt is not None and "random" in name.lower()
        self._announce(ModelInfo(name, source, str(em.device), int(em.canvas_length), pieces, defaults, is_random,
                                 text))

    def _announce(self, info: ModelInfo) -> None:
        self._info = info
        self.loaded.emit(info)

    def _load_failed(self, message: str) -> None:
        """`error(0, …)`; the model loaded before (if any) is untouched, so it is announced again and stays usable."""
        kept = self._info
        shown = kept and (model_label(kept.source) if kept.source else kept.name)
        self.error.emit(0, message if kept is None else f"{message} Still using {shown}.")
        if kept is not None:
            self.loaded.emit(kept)

    def _load_remote(self, source: str) -> None:
        """Connect to a remote OpenAI-compatible server; it answers in place of a local model."""
        self.loading.emit(f"Connecting to {remote_url(source)}…")
        try:
            remote = connect_remote(source)
        except EngineError as exc:
            self._load_failed(str(exc))
            return
        self._em, self._session, self._session_key = remote, None, None
        # No tokenizer here: a one-entry piece table lets the canvas paint each step's cell states (noise, guess,
        # settled) without text; the text arrives with each canvas.
        self._announce(ModelInfo(remote.name, source, "remote", int(remote.canvas_length), [""], remote_defaults(),
                                 canvas_note=canvas_note(remote)))

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
        except PromptTooLongError as exc:  # nothing ran: the window gives the question back to edit
            self.too_long.emit(rid, str(exc))
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
