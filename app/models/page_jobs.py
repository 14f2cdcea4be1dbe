"""The Models page's background jobs: a `Job` runs one disk or network call on the page's pool and hands its progress
and its result (or exception) to the GUI thread through a `Bridge`'s queued signals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Signal


class Bridge(QObject):
    """Carries worker-thread results to the GUI thread (queued: the bridge lives in the GUI thread)."""

    progress = Signal(str, object)
    done = Signal(str, str, object)


class Job(QRunnable):
    """Runs `fn(report)` on the pool; delivers the result, or the exception, as `done(model_id, kind, value)`."""

    def __init__(self, bridge: Bridge, model_id: str, kind: str, fn: Callable[[Callable], Any]) -> None:
        super().__init__()
        self.bridge, self.model_id, self.kind, self.fn = bridge, model_id, kind, fn

    def _emit(self, signal: Any, *args: Any) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:
            pass  # the page was deleted while the job ran

    def run(self) -> None:
        def report(value: Any) -> None:
            self._emit(self.bridge.progress, self.model_id, value)

        try:
            result = self.fn(report)
        except Exception as exc:  # noqa: BLE001 - shown on the page, never raised into Qt
            result = exc
        self._emit(self.bridge.done, self.model_id, self.kind, result)
