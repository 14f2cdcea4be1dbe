"""Live frames at most 60 per second without ever losing the last frame of a canvas: shared by the chat's worker,
Rewrite selection and the Server page's live view (the engine yields frames far faster than a window repaints)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

FRAME_INTERVAL_S = 1 / 60


class FrameThrottle:
    """`offer(frame)` returns the frame to deliver now, or None when it is held back; `flush()` returns the held
    frame (call it before a canvas's `CanvasDone`, so its last step always arrives)."""

    def __init__(self, interval_s: float = FRAME_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval, self._clock = interval_s, clock
        self._last = float("-inf")
        self._pending: Any = None

    def offer(self, frame: Any) -> Any:
        now = self._clock()
        if now - self._last >= self._interval:
            self._last, self._pending = now, None
            return frame
        self._pending = frame
        return None

    def flush(self) -> Any:
        frame, self._pending = self._pending, None
        return frame
