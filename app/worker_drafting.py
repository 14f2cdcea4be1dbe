"""The drafting workbench's runs on the engine thread (issue 15): Compare (`engine.generate_variants`, one batched
decoder forward per step) and Rewrite selection (`engine.infill`). Like `_Runner._answer`, they only iterate the
engine's generator and forward what it yields: live frames coalesced to ≤ 60 per second (one flush carries the
newest pending frame of every variant), the last frame of each canvas always delivered, and every frame of a
canvas packed with its `CanvasDone` for replay and the store.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from engine import CanvasDone, CanvasStart, Done, EngineError, Frame, SamplerSettings

from .canvas.frame_codec import CanvasFrames, encode_canvas, start_frame
from .canvas.frame_throttle import FRAME_INTERVAL_S, FrameThrottle

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class CompareRequest:
    """Variants to denoise as one batch: per variant the chat it answers, its settings (with a seed) and whether it
    thinks first (the chat template's `enable_thinking`)."""

    request_id: int
    chats: list[list[dict[str, str]]]
    settings: list[SamplerSettings]
    thinking: list[bool] = field(default_factory=list)


@dataclass(frozen=True)
class RewriteRequest:
    """Re-denoise characters `span` of `answer` (the last turn of `messages`' conversation) in place."""

    request_id: int
    messages: list[dict[str, str]]
    answer: str
    span: tuple[int, int]
    settings: SamplerSettings
    instruction: str | None = None
    enable_thinking: bool = False  # the chat's Thinking: the span reads the answer's thought first
    thought: str = ""


class _Canvases:
    """Per stream (a variant, or the one rewrite): its step-0 frame and the frames of its open canvas."""

    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = vocab_size
        self.start: Frame | None = None
        self.frames: list[Frame] = []

    def begin(self, event: CanvasStart, keep_outside: tuple[int, int] | None = None) -> Frame:
        """The step-0 frame; for a rewrite, the cells outside `keep_outside` (the span) start settled."""
        start = start_frame(event.canvas_index, event.canvas, event.max_steps, self.vocab_size)
        if keep_outside is not None:
            lo, hi = keep_outside
            inside = [lo <= i < hi for i in range(len(start.canvas))]
            start = Frame(start.canvas_index, 0, start.max_steps, start.canvas, start.draft,
                          [not x for x in inside], [e if x else 0.0 for e, x in zip(start.entropy, inside)], 0.0)
        self.start, self.frames = start, []
        return start

    def commit(self, done: CanvasDone) -> tuple[CanvasFrames, bytes]:
        start = self.start if self.start is not None and self.start.canvas_index == done.canvas_index else None
        frames = CanvasFrames([f for f in self.frames if f.canvas_index == done.canvas_index], start)
        self.frames = []
        return frames, (encode_canvas(frames) if frames else b"")


def _local_model_needed(em: Any) -> str:
    """Why `em` cannot run drafting work ("" when it can)."""
    if em is None:
        return "No model is loaded yet. Pick one in the model list first."
    if not hasattr(em, "chat_ids"):
        return ("Compare and Rewrite selection denoise on this computer: load a local model (a remote server "
                "streams whole answers only).")
    return ""


def run_compare(runner: Any, em: Any, request: CompareRequest, cancel: threading.Event) -> None:
    """Batched variants → `variant_frame` / `variant_canvas_done` / `variant_done`, or `variant_error`."""
    rid = request.request_id
    problem = _local_model_needed(em)
    if problem:
        runner.variant_error.emit(rid, problem)
        return
    from engine import Variant, generate_variants

    streams: dict[int, _Canvases] = {}
    pending: dict[int, Frame] = {}
    last_emit = 0.0

    def flush() -> None:
        for index, frame in sorted(pending.items()):
            runner.variant_frame.emit(rid, index, frame)
        pending.clear()

    try:
        thinking = request.thinking or [False] * len(request.chats)
        variants = [Variant(em.chat_ids(chat, enable_thinking=think)[0].tolist(), settings)
                    for chat, settings, think in zip(request.chats, request.settings, thinking)]
        for tagged in generate_variants(em, variants, capture_frames=True, cancel=cancel):
            index, event = tagged.variant, tagged.event
            stream = streams.setdefault(index, _Canvases(int(em.vocab_size)))
            if isinstance(event, CanvasStart):
                runner.variant_frame.emit(rid, index, stream.begin(event))
            elif isinstance(event, Frame):
                stream.frames.append(event)
                pending[index] = event
                now = time.monotonic()
                if now - last_emit >= FRAME_INTERVAL_S:
                    flush()
                    last_emit = now
            else:
                if index in pending:  # the last frame of a canvas is always delivered
                    runner.variant_frame.emit(rid, index, pending.pop(index))
                if isinstance(event, CanvasDone):
                    frames, blob = stream.commit(event)
                    runner.variant_canvas_done.emit(rid, index, event, frames, blob)
                elif isinstance(event, Done):
                    runner.variant_done.emit(rid, index, event)
        flush()
    except (EngineError, ValueError) as exc:
        runner.variant_error.emit(rid, str(exc))
    except Exception as exc:  # noqa: BLE001 - the window keeps running and says what happened
        log.error("compare failed\n%s", traceback.format_exc())
        runner.variant_error.emit(rid, f"Compare failed: {exc}")


def run_rewrite(runner: Any, em: Any, request: RewriteRequest, cancel: threading.Event) -> None:
    """`engine.infill` → `infill_started`, then the usual `frame` / `canvas_done` / `done` (or `error`)."""
    rid = request.request_id
    problem = _local_model_needed(em)
    if problem:
        runner.error.emit(rid, problem)
        return
    from engine import infill
    from engine.events import InfillStart

    stream = _Canvases(int(em.vocab_size))
    throttle = FrameThrottle()
    span: tuple[int, int] = (0, 0)
    try:
        events = infill(em, request.messages, request.answer, request.span, request.settings,
                        instruction=request.instruction or None, enable_thinking=request.enable_thinking,
                        thought=request.thought, capture_frames=True, cancel=cancel)
        for event in events:
            if isinstance(event, InfillStart):
                span = (event.token_start, event.token_end)
                runner.infill_started.emit(rid, event)
            elif isinstance(event, CanvasStart):
                runner.frame.emit(rid, stream.begin(event, keep_outside=span))
            elif isinstance(event, Frame):
                stream.frames.append(event)
                if (now := throttle.offer(event)) is not None:
                    runner.frame.emit(rid, now)
            else:
                if (last := throttle.flush()) is not None:  # the last frame of a canvas is always delivered
                    runner.frame.emit(rid, last)
                if isinstance(event, CanvasDone):
                    frames, blob = stream.commit(event)
                    runner.canvas_done.emit(rid, event, frames, blob)
                elif isinstance(event, Done):
                    runner.done.emit(rid, event)
    except (EngineError, ValueError) as exc:
        runner.error.emit(rid, str(exc))
    except Exception as exc:  # noqa: BLE001
        log.error("rewrite failed\n%s", traceback.format_exc())
        runner.error.emit(rid, f"Rewrite failed: {exc}")
