"""Every frame of one answer in scrubber order, committed canvases and the canvas being generated alike.

A committed canvas contributes its step 0 (the random start, when known) and every denoising step; its last frame
is marked committed (drawn fully settled) and its step count is known. The canvas still being generated
contributes the live frames that reached the window so far (coalesced to the screen's rate); when its
`CanvasDone` arrives they are replaced by every one of its steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.events import Frame

from .frame_codec import steps_with_start


@dataclass(frozen=True)
class Slot:
    """One scrubber position: the frame, whether it is its committed canvas's last, its canvas's step count when
    known, and the frame before it in the same canvas (what "changed" is measured against)."""

    frame: Frame
    committed: bool
    steps: int | None
    previous: Frame | None


class Timeline:
    """The frames of one answer; `live` while it is being generated."""

    def __init__(self) -> None:
        self.live = False
        self._canvases: list[list[Frame]] = []
        self._pending: list[Frame] = []
        self._starts: dict[int, Frame] = {}
        self._slots: list[Slot] = []

    def reset(self, *, live: bool) -> None:
        """Forget everything (a new answer, or another answer's replay)."""
        self.live = live
        self._canvases, self._pending, self._starts = [], [], {}
        self._rebuild()

    def set_canvases(self, canvases: list[list[Frame]]) -> None:
        """A stored answer: its canvases (each a list of steps, step 0 in `.start` when stored)."""
        self.reset(live=False)
        self._canvases = [steps_with_start(c) for c in canvases if c]
        self._rebuild()

    def add_live(self, frame: Frame) -> None:
        """A live frame of the canvas being generated."""
        if frame.step == 0:
            self._starts[frame.canvas_index] = frame
        if any(c[0].canvas_index == frame.canvas_index for c in self._canvases):
            return  # a late frame of a canvas already committed in full
        if self._pending and self._pending[0].canvas_index != frame.canvas_index:
            self._pending = []
        self._pending.append(frame)
        self._rebuild()

    def commit(self, frames: list[Frame]) -> None:
        """A committed canvas: all of its steps replace the live frames seen for it."""
        if not frames:
            return
        index = frames[0].canvas_index
        full = steps_with_start(frames)
        if full[0].step != 0 and index in self._starts:
            full = [self._starts[index], *full]
        self._canvases = [c for c in self._canvases if c[0].canvas_index != index] + [full]
        self._canvases.sort(key=lambda c: c[0].canvas_index)
        if self._pending and self._pending[0].canvas_index == index:
            self._pending = []
        self._rebuild()

    def _rebuild(self) -> None:
        slots: list[Slot] = []
        for canvas in self._canvases:
            steps = canvas[-1].step
            for j, f in enumerate(canvas):
                slots.append(Slot(f, j == len(canvas) - 1, steps, canvas[j - 1] if j else None))
        for j, f in enumerate(self._pending):
            slots.append(Slot(f, False, None, self._pending[j - 1] if j else None))
        self._slots = slots

    # -- reading ------------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._slots)

    def slot(self, index: int) -> Slot:
        """The slot at a scrubber position."""
        return self._slots[index]

    @property
    def frames(self) -> list[Frame]:
        """Every frame in scrubber order."""
        return [s.frame for s in self._slots]

    def index_of(self, canvas_index: int, step: int) -> int:
        """The position of (canvas, step), or of the nearest earlier frame; 0 when there is none."""
        best = 0
        for i, s in enumerate(self._slots):
            if (s.frame.canvas_index, s.frame.step) <= (canvas_index, step):
                best = i
        return best

    def canvas_bounds(self, index: int) -> tuple[int, int]:
        """(first, last) positions of the canvas that holds position `index`."""
        canvas = self._slots[index].frame.canvas_index
        positions = [i for i, s in enumerate(self._slots) if s.frame.canvas_index == canvas]
        return positions[0], positions[-1]

    def canvas_slots(self, canvas_index: int) -> list[Slot]:
        """Every slot of one canvas, in order."""
        return [s for s in self._slots if s.frame.canvas_index == canvas_index]
