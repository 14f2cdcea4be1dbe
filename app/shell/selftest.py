"""◆ `diffusion-desk --self-test DIR [--model PATH] [--prompt TEXT]`: the real window asks one question.

It loads the model (the embedded demo model by default, else the tiny random model, labelled as such), types
the prompt into the composer, presses Send, waits for the answer, and writes `DIR/window.png` (canvas view
visible, following the answer live), `DIR/canvas-steps.png` (the film strip of the first canvas: one tile per
step, from its random start to its committed text) and `DIR/report.json`. A GUI-thread heartbeat timer measures
the longest stall during generation.
Chats go to `DIR/self-test-chats.sqlite3`; the user's chats and settings are not touched.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication

from ..models.model_sources import default_model_source
from ..store.app_settings import AppSettings
from .desktop import Desktop, create_desktop

DEFAULT_PROMPT = "Hello! Who are you?"
HEARTBEAT_MS = 5
SELF_TEST_MAX_NEW_TOKENS = 512


class Heartbeat(QObject):
    """A precise GUI-thread timer; the longest gap between ticks beyond its interval is the worst stall."""

    def __init__(self, interval_ms: int = HEARTBEAT_MS) -> None:
        super().__init__()
        self.interval_ms = interval_ms
        self.max_stall_ms = 0.0
        self._last = 0.0
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        """Start measuring."""
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        """Stop measuring (the time since the last tick counts too)."""
        self._tick()
        self._timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.max_stall_ms = max(self.max_stall_ms, (now - self._last) * 1000 - self.interval_ms)
        self._last = now


async def _signal(signal: Any, timeout_s: float) -> Any:
    """Wait for the next emission of a Qt signal (its first argument)."""
    future: asyncio.Future = asyncio.get_running_loop().create_future()

    def fire(*args: Any) -> None:
        if not future.done():
            future.set_result(args[0] if args else None)

    signal.connect(fire)
    try:
        return await asyncio.wait_for(future, timeout_s)
    finally:
        signal.disconnect(fire)


async def run_self_test(out_dir: Path, model: str | None, prompt: str, *, timeout_s: float = 540.0) -> dict:
    """Drive the window through one answer; return the report (also written to `out_dir/report.json`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    store_path = out_dir / "self-test-chats.sqlite3"
    for leftover in (store_path, Path(f"{store_path}-wal"), Path(f"{store_path}-shm")):
        leftover.unlink(missing_ok=True)
    desktop: Desktop = create_desktop(
        store_path=store_path,
        settings=AppSettings(read_only=True),
        autoload=False,
    )
    window, controller = desktop.window, desktop.controller
    window.show()
    errors: list[str] = []
    desktop.worker.error.connect(lambda _rid, message: errors.append(message))
    try:
        loaded: asyncio.Future = asyncio.get_running_loop().create_future()
        controller.model_ready.connect(lambda info: loaded.done() or loaded.set_result(info))
        desktop.worker.error.connect(
            lambda rid, message: rid != 0 or loaded.done() or loaded.set_exception(RuntimeError(message))
        )
        window.model_picker_controller.load(model or default_model_source())
        await asyncio.wait_for(loaded, timeout_s)
        sampler = controller.sampler
        controller.sampler = sampler.with_(max_new_tokens=min(sampler.max_new_tokens, SELF_TEST_MAX_NEW_TOKENS))
        counts = {"frames": 0, "delivered": 0, "canvases": 0}
        desktop.worker.frame.connect(lambda *_: counts.__setitem__("delivered", counts["delivered"] + 1))

        def canvas_done(_rid: int, _done: Any, frames: list, _blob: bytes) -> None:
            counts["frames"] += len(frames)
            counts["canvases"] += 1

        desktop.worker.canvas_done.connect(canvas_done)
        heartbeat = Heartbeat()
        finished = asyncio.ensure_future(_signal(controller.answer_finished, timeout_s))
        controller.new_conversation()
        window.chat.canvas.follow_live()  # the screenshot shows the answer's last step, not a slow-motion replay
        window.chat.composer.setPlainText(prompt)
        heartbeat.start()
        window.chat.send_button.click()
        message_id = await finished
        heartbeat.stop()
        answer = desktop.store.message(message_id)
        if answer.status != "done":
            raise RuntimeError(errors[-1] if errors else f"the answer ended with status {answer.status}")
        await asyncio.sleep(0.1)  # let the last repaint land before the screenshot
        QApplication.processEvents()
        window.grab().save(str(out_dir / "window.png"))
        canvas_steps = window.chat.canvas.write_film_strip(out_dir / "canvas-steps.png", 0)
        if not canvas_steps:
            raise RuntimeError("the first canvas has no steps to draw")
        stats = answer.stats or {}
        report = {
            "answer": answer.text,
            "frames": counts["frames"],
            "frames_delivered_to_gui": counts["delivered"],
            "canvases": counts["canvases"],
            "canvas_steps_tiles": canvas_steps,
            "max_gui_stall_ms": round(heartbeat.max_stall_ms, 2),
            "tokens_per_second": stats.get("tokens_per_second", 0.0),
            "model": controller.model_title(),
            "model_path": controller.model.source if controller.model else "",
            "device": controller.model.device if controller.model else "",
            "seed": answer.seed,
            "stats": stats,
            "qt_platform": QApplication.platformName(),
        }
        (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        return report
    finally:
        window.close()
