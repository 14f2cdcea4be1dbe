"""Live frames are thinned to the repaint rate, but the last frame of a canvas always arrives."""

from __future__ import annotations

from app.canvas.frame_throttle import FrameThrottle


def test_frames_within_the_interval_are_held_and_the_last_is_flushed() -> None:
    now = [0.0]
    throttle = FrameThrottle(interval_s=1.0, clock=lambda: now[0])
    assert throttle.offer("step 1") == "step 1"  # the first frame goes out at once
    now[0] = 0.5
    assert throttle.offer("step 2") is None and throttle.offer("step 3") is None
    assert throttle.flush() == "step 3" and throttle.flush() is None  # only the newest held frame, once
    now[0] = 1.2
    assert throttle.offer("step 4") == "step 4"
    assert throttle.flush() is None  # nothing held: nothing delivered twice
