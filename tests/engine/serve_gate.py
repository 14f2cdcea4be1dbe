"""A gate for the server tests: holds the engine at step 1 of a chosen request until the test releases it."""

from __future__ import annotations

import threading

from engine import Frame

WAIT_S = 120  # a guard against hangs on a busy machine; never what decides a test


class Gate:
    """Holds the engine at step 1 of any request whose last message contains `HOLD`, until released."""

    def __init__(self) -> None:
        self.held = threading.Event()
        self.release = threading.Event()
        self.ids: set[str] = set()

    def on_request(self, record, request) -> None:
        if "HOLD" in request.messages[-1]["content"]:
            self.ids.add(record.id)

    def on_event(self, record, event) -> None:
        if record.id in self.ids and isinstance(event, Frame) and event.step == 1:
            self.held.set()
            self.release.wait(WAIT_S)

    def reset(self) -> None:
        self.held.clear()
        self.release.clear()
