"""Crash handling: every unhandled exception (GUI thread, Qt slot, QThread slot, Python thread) is logged and
shown in one non-modal dialog with "Copy details" and the log path; the app keeps answering afterwards."""

from __future__ import annotations

import logging
import threading
from logging.handlers import RotatingFileHandler

import pytest
from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot
from PySide6.QtWidgets import QApplication

from app.shell import crash
from app.shell.crash import CrashDialog, CrashReporter
from tests.app.helpers import ask


@pytest.fixture
def reporter(qtbot, tmp_path):
    """A reporter with its hooks installed for one test (pytest-qt's own hook comes back afterwards)."""
    r = CrashReporter(tmp_path / "diffusion-desk.log").install()
    yield r
    r.uninstall()
    if r.dialog is not None:
        r.dialog.close()


def _boom() -> None:
    raise ValueError("the widget exploded")


def test_exception_in_a_qt_slot_opens_the_dialog_and_logs(qtbot, reporter, caplog):
    QTimer.singleShot(0, _boom)
    qtbot.waitUntil(lambda: reporter.dialog is not None and reporter.dialog.isVisible(), timeout=5000)
    dialog = reporter.dialog
    assert isinstance(dialog, CrashDialog) and not dialog.isModal()
    assert "ValueError: the widget exploded" in dialog.summary.text()
    assert str(reporter.path) in dialog.summary.text()
    assert "Traceback" in dialog.details.toPlainText() and "_boom" in dialog.details.toPlainText()
    assert any("the widget exploded" in r.getMessage() for r in caplog.records)
    dialog.copy_details()
    clipboard = QApplication.clipboard().text()
    assert "ValueError: the widget exploded" in clipboard and str(reporter.path) in clipboard


def test_exception_in_a_python_thread(qtbot, reporter):
    thread = threading.Thread(target=_boom, name="download-thread")
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: reporter.dialog is not None, timeout=5000)
    assert "Thread: download-thread" in reporter.dialog.details.toPlainText()


class _Worker(QObject):
    go = Signal()

    @Slot()
    def run(self) -> None:
        raise RuntimeError("engine thread failure")


def test_exception_in_a_qthread_slot_reaches_the_gui_thread(qtbot, reporter):
    thread = QThread()
    worker = _Worker()
    worker.moveToThread(thread)
    worker.go.connect(worker.run)
    thread.start()
    try:
        worker.go.emit()
        qtbot.waitUntil(lambda: reporter.dialog is not None, timeout=5000)
        assert "engine thread failure" in reporter.dialog.summary.text()
        assert reporter.dialog.thread() is QApplication.instance().thread()
    finally:
        thread.quit()
        thread.wait(5000)


def test_repeated_errors_collect_in_one_dialog(qtbot, reporter):
    for _ in range(3):
        QTimer.singleShot(0, _boom)
    qtbot.waitUntil(lambda: len(reporter.reports) == 3 and reporter.dialog is not None, timeout=5000)
    qtbot.waitUntil(lambda: reporter.dialog.count == 3, timeout=5000)
    assert "3 errors so far" in reporter.dialog.summary.text()
    assert len(QApplication.topLevelWidgets()) == len(set(QApplication.topLevelWidgets()))
    assert sum(isinstance(w, CrashDialog) and w.isVisible() for w in QApplication.topLevelWidgets()) == 1


def test_the_app_keeps_answering_after_a_crash_in_a_slot(qtbot, desk, reporter):
    desk.window.chat.composer.submitted.connect(_boom)  # a buggy extra slot on Enter
    message_id = ask(qtbot, desk, "still there?")
    qtbot.waitUntil(lambda: reporter.dialog is not None, timeout=5000)
    answer = desk.store.message(message_id)
    assert answer.status == "done" and answer.text
    desk.window.chat.composer.submitted.disconnect(_boom)
    reporter.dialog.close()
    assert ask(qtbot, desk, "and again?") != message_id


def test_keyboard_interrupt_is_not_a_crash_report(reporter, capsys):
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as exc:
        reporter.excepthook(type(exc), exc, exc.__traceback__)
    assert reporter.reports == []


def test_log_file_rotates_under_logs(portable_home, monkeypatch):
    monkeypatch.setattr(crash, "LOG_MAX_BYTES", 2000)
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        path = crash.setup_logging()
        assert path == portable_home / "logs" / "diffusion-desk.log"
        handlers = [h for h in root.handlers if getattr(h, "diffusion_desk", False)]
        assert len(handlers) == 1 and isinstance(handlers[0], RotatingFileHandler)
        assert crash.setup_logging() == path and len([h for h in root.handlers if h not in before]) <= 2
        for i in range(200):
            logging.getLogger("diffusion_desk.test").warning("line %d of the rotation test", i)
        handlers[0].flush()
        assert path.is_file() and path.with_name("diffusion-desk.log.1").is_file()
        assert path.stat().st_size <= 2200
        assert not path.with_name(f"diffusion-desk.log.{crash.LOG_BACKUPS + 1}").exists()
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)
            handler.close()


def test_exception_in_an_asyncio_task(qtbot, reporter):
    import asyncio

    loop = asyncio.new_event_loop()
    loop.set_exception_handler(reporter.asyncio_exception)
    try:
        async def download() -> None:
            raise OSError("connection reset while orchestrating")

        task = loop.create_task(download())
        loop.run_until_complete(asyncio.sleep(0.01))
        assert task.done()
        del task  # an exception never retrieved reaches the handler when the task is collected
        import gc

        gc.collect()
    finally:
        loop.close()
    qtbot.waitUntil(lambda: reporter.dialog is not None, timeout=5000)
    assert "connection reset while orchestrating" in reporter.dialog.summary.text()
    assert "Thread: asyncio" in reporter.dialog.details.toPlainText()
