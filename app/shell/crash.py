"""Crash handling: a rotating log under `<logs>`, and every unhandled exception — GUI thread, Qt slots, the
engine's QThread, plain Python threads — becomes a non-modal dialog with "Copy details" and the log path.

The app keeps running: the exception is logged and shown, never re-raised. Hard crashes (segfaults) still
leave a trace: `faulthandler` writes the Python stacks to `<logs>/fatal.log`.
"""

from __future__ import annotations

import faulthandler
import logging
import platform
import sys
import threading
import traceback
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType
from typing import IO

from PySide6.QtCore import QObject, Qt, QtMsgType, Signal, qInstallMessageHandler
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

log = logging.getLogger("diffusion_desk")

LOG_FILE = "diffusion-desk.log"
FATAL_FILE = "fatal.log"
LOG_MAX_BYTES = 2_000_000
LOG_BACKUPS = 5
LOG_FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"

_fatal_stream: IO[str] | None = None


class LogFileHandler(RotatingFileHandler):
    """The rotating log file; when it cannot be written (disk full, folder gone) it says so once on stderr
    instead of printing a traceback for every record — the terminal handler keeps logging."""

    warned = False

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        if not self.warned:
            self.warned = True
            error = sys.exc_info()[1]
            print(f"diffusion-desk: cannot write the log file {self.baseFilename} ({error}); "
                  "logging to this terminal only.", file=sys.stderr)


def log_path() -> Path:
    """`<logs>/diffusion-desk.log` (rotated: .1 … .5, 2 MB each)."""
    from engine.paths import logs_dir

    return logs_dir() / LOG_FILE


def safe_log_path() -> Path | None:
    """`log_path()`, or None when the log folder cannot be used."""
    from engine.errors import EngineError

    try:
        return log_path()
    except (OSError, EngineError):
        return None


def setup_logging(level: int = logging.INFO) -> Path | None:
    """Log to the rotating file and to stderr; route Qt's own warnings into the log. Safe to call twice.
    An unusable log folder (read-only, full, a file in the way) leaves stderr only and returns None."""
    root = logging.getLogger()
    root.setLevel(level)
    existing = next((h for h in root.handlers if getattr(h, "diffusion_desk", False)), None)
    path: Path | None = Path(existing.baseFilename) if existing is not None else None
    if existing is None:
        from engine.errors import EngineError

        try:
            path = log_path()
            file_handler = LogFileHandler(path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8")
        except (OSError, EngineError) as exc:
            path, file_handler = None, None
            print(f"diffusion-desk: no log file ({exc}); logging to this terminal only.", file=sys.stderr)
        if file_handler is not None:
            file_handler.diffusion_desk = True  # type: ignore[attr-defined]
            file_handler.setFormatter(logging.Formatter(LOG_FORMAT))
            root.addHandler(file_handler)
        if not any(isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
                   for h in root.handlers):
            stream = logging.StreamHandler()
            stream.setFormatter(logging.Formatter(LOG_FORMAT))
            root.addHandler(stream)
    qInstallMessageHandler(_qt_message)
    return path


def enable_fatal_log() -> None:
    """Hard crashes (segfaults, aborts) dump every thread's Python stack to `<logs>/fatal.log`."""
    global _fatal_stream
    path = safe_log_path()
    if _fatal_stream is None and path is not None:
        try:
            _fatal_stream = open(path.with_name(FATAL_FILE), "a", encoding="utf-8")  # noqa: SIM115 - for life
            faulthandler.enable(_fatal_stream)
        except OSError:
            _fatal_stream = None


def _qt_message(kind: QtMsgType, _context: object, message: str) -> None:
    level = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO}.get(kind, logging.WARNING)
    logging.getLogger("qt").log(level, "%s", message)


def crash_details(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None,
                  thread: str, path: Path | None) -> str:
    """The text "Copy details" puts on the clipboard: versions, thread, traceback and the log path."""
    from .. import app_version

    lines = [
        f"Diffusion Desk {app_version()} · Python {platform.python_version()} · {platform.platform()}",
        f"Thread: {thread}",
        f"Log: {path}" if path else "Log: (none)",
        "",
        "".join(traceback.format_exception(exc_type, exc, tb)).rstrip(),
    ]
    return "\n".join(lines)


class CrashDialog(QDialog):
    """◆ crashDialog: what went wrong, where the log is, "Copy details"; closing it returns to the app."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("crashDialog")
        self.setAccessibleName("crashDialog")
        self.setWindowTitle("Diffusion Desk — unexpected error")
        self.setModal(False)
        self.resize(620, 380)
        self.count = 0
        self.summary = QLabel(self)
        self.summary.setObjectName("crashSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = QPlainTextEdit(self)
        self.details.setObjectName("crashDetails")
        self.details.setAccessibleName("crashDetails")
        self.details.setReadOnly(True)
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        buttons = QDialogButtonBox(self)
        self.copy_button = QPushButton("Copy details", self)
        self.copy_button.setObjectName("copyDetailsButton")
        self.copy_button.setAccessibleName("copyDetailsButton")
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        close = buttons.addButton("Keep working", QDialogButtonBox.ButtonRole.RejectRole)
        close.setObjectName("keepWorkingButton")
        self.copy_button.clicked.connect(self.copy_details)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.details, 1)
        layout.addWidget(buttons)

    def add(self, headline: str, details: str, path: Path | None) -> None:
        """Show one more error; repeated errors collect in the same dialog instead of opening new ones."""
        self.count += 1
        more = f" ({self.count} errors so far)" if self.count > 1 else ""
        where = f"Details were written to {path}." if path else "Details could not be written to a log file."
        self.summary.setText(
            f"<b>Something went wrong{more}:</b> {_html(headline)}<br><br>Diffusion Desk keeps running and your "
            f"saved chats are safe. If something looks wrong, restart the app. {_html(where)} "
            "Use “Copy details” to include this report when you ask for help."
        )
        previous = self.details.toPlainText()
        self.details.setPlainText(f"{previous}\n\n{'-' * 60}\n{details}" if previous else details)
        self.copy_button.setText("Copy details")

    def copy_details(self) -> None:
        """Put every collected report on the clipboard."""
        QApplication.clipboard().setText(self.details.toPlainText())
        self.copy_button.setText("Copied")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class CrashReporter(QObject):
    """Installs `sys.excepthook` and `threading.excepthook`; reports reach the GUI thread as a queued signal."""

    reported = Signal(str, str)  # headline, details
    noticed = Signal(str)  # a problem the user can act on, not a bug: shown by `notice_handler`, no crash dialog

    def __init__(self, path: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self.dialog: CrashDialog | None = None
        self.reports: list[str] = []
        self._previous: tuple = ()
        self.reported.connect(self._show, Qt.ConnectionType.QueuedConnection)
        self.noticed.connect(self._notice, Qt.ConnectionType.QueuedConnection)
        self.notice_handler: Callable[[str], None] | None = None  # the window's banner; a message box until set
        self.notice_box: QMessageBox | None = None

    def install(self) -> CrashReporter:
        """Take over both hooks (the previous ones come back with `uninstall`)."""
        self._previous = (sys.excepthook, threading.excepthook)
        sys.excepthook = self.excepthook
        threading.excepthook = self.thread_excepthook
        return self

    def uninstall(self) -> None:
        """Give the hooks back."""
        if self._previous:
            sys.excepthook, threading.excepthook = self._previous
            self._previous = ()

    def excepthook(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        """`sys.excepthook`: the GUI thread, and Qt slots in any thread (PySide6 routes them here)."""
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        self.report(exc_type, exc, tb, threading.current_thread().name)

    def thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        """`threading.excepthook`: an exception that ended a Python thread."""
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        name = args.thread.name if args.thread is not None else "unknown thread"
        self.report(args.exc_type, args.exc_value, args.exc_traceback, name)

    def asyncio_exception(self, loop: object, context: dict) -> None:
        """An asyncio loop's exception handler: a coroutine's unhandled exception (qasync runs them on the GUI)."""
        exc = context.get("exception")
        if isinstance(exc, BaseException) and not isinstance(exc, KeyboardInterrupt):
            self.report(type(exc), exc, exc.__traceback__, "asyncio")
        else:
            log.error("asyncio: %s", context.get("message", context))

    def report(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None,
               thread: str) -> None:
        """Log the exception and queue the dialog (callable from any thread). An expected problem (the chat
        database in use by another program, …) that no caller handled is queued as a notice instead."""
        notice = expected_problem(exc)
        if notice:
            log.warning("%s (%s in %s)", notice, exc_type.__name__, thread)
            self.noticed.emit(notice)
            return
        try:
            details = crash_details(exc_type, exc, tb, thread, self.path)
            log.error("unhandled exception in %s\n%s", thread, details)
            headline = f"{exc_type.__name__}: {exc}".strip().rstrip(":")
            self.reports.append(details)
            self.reported.emit(headline.splitlines()[0][:300], details)
        except Exception:  # noqa: BLE001 - the hook itself must never raise
            sys.__excepthook__(exc_type, exc, tb)

    def _show(self, headline: str, details: str) -> None:
        if QApplication.instance() is None:
            return
        if self.dialog is None:
            parent = QApplication.activeWindow()
            self.dialog = CrashDialog(parent)
            self.dialog.finished.connect(self._closed)
        self.dialog.add(headline, details, self.path)
        self.dialog.show()
        self.dialog.raise_()

    def _notice(self, text: str) -> None:
        if self.notice_handler is not None:
            self.notice_handler(text)
            return
        if QApplication.instance() is None:
            return
        if self.notice_box is None:
            self.notice_box = QMessageBox(QMessageBox.Icon.Warning, "Diffusion Desk", text,
                                          QMessageBox.StandardButton.Ok, QApplication.activeWindow())
            self.notice_box.setModal(False)
        self.notice_box.setText(text)
        self.notice_box.show()

    def _closed(self, _result: int) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
            self.dialog = None


def expected_problem(exc: BaseException) -> str:
    """The message of an exception that is the user's to act on, not a bug ("" for everything else)."""
    from ..store.chats import StoreUnavailableError

    return str(exc) if isinstance(exc, StoreUnavailableError) else ""


def startup_failure_message(exc: BaseException) -> str:
    """What the user reads when the window cannot open at all (the cause is logged with its traceback)."""
    import sqlite3

    from engine.errors import EngineError

    from ..store.chats import ForeignDatabaseError, NewerSchemaError, StoreOpenError

    if isinstance(exc, (EngineError, StoreOpenError, ForeignDatabaseError, NewerSchemaError)):
        log.error("startup failed: %s", exc)  # expected: the message says what to do, a traceback adds nothing
        return str(exc)
    log.error("startup failed", exc_info=(type(exc), exc, exc.__traceback__))
    path = safe_log_path()
    where = f" Details are in {path}." if path is not None else ""
    if isinstance(exc, sqlite3.DatabaseError):
        db = getattr(exc, "db_path", None) or "chats.sqlite3"
        return (f"The chat database {db} could not be opened ({exc}). It was left as it is: move it "
                f"aside to start with an empty history, or put a backup in its place.{where}")
    if isinstance(exc, OSError):
        return f"Diffusion Desk could not use its files: {exc}. Check that the folder exists and is writable.{where}"
    return f"Diffusion Desk could not start: {type(exc).__name__}: {exc}.{where}"


def install_crash_handling() -> CrashReporter:
    """Logging with rotation plus the exception hooks; call once, after the QApplication exists."""
    path = setup_logging()
    enable_fatal_log()
    log.info("Diffusion Desk starting (Python %s, %s)", platform.python_version(), platform.platform())
    return CrashReporter(path, QApplication.instance()).install()
