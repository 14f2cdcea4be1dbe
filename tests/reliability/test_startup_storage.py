"""Class 7 (catalogue): startup and storage. Every entry point turns an unusable home, folder, settings file or
chat database into one clear message — a real QMessageBox (answered from a QTimer) where a window can exist, a
stderr line otherwise — and a non-zero exit; a locked database never freezes the window; another program's
database is left byte-identical. Real files, real SQLite locks held by a second process, real read-only folders
(chattr +i when running as root, where permission bits do not bind)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QElapsedTimer, Qt, QTimer, qInstallMessageHandler
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox

from app.shell.desktop import create_desktop
from app.store.app_settings import AppSettings, load_settings, save_settings, settings_path
from app.store.chats import ChatStore, ForeignDatabaseError
from tests.app.conftest import chat_em, desk  # noqa: F401 - fixtures
from tests.app.helpers import ask

REPO = Path(__file__).resolve().parents[2]

LOCKER = textwrap.dedent(
    """
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    sys.stdin.read()
    conn.execute("ROLLBACK")
    """
)


@contextlib.contextmanager
def lock_held_by_another_process(path: Path):
    """Another process holds an exclusive SQLite lock on `path` until the block ends."""
    proc = subprocess.Popen([sys.executable, "-c", LOCKER, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        proc.stdin.close()
        proc.wait(timeout=20)


SHM_LOCKER = textwrap.dedent(
    """
    import fcntl, os, sys
    fd = os.open(sys.argv[1] + "-shm", os.O_RDWR)
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 5, 123)  # SQLite's five WAL read-mark locks (bytes 123-127)
    print("locked", flush=True)
    sys.stdin.read()
    """
)


@contextlib.contextmanager
def reads_blocked_by_another_process(path: Path):
    """Another process holds every WAL read lock of `path` (what a hung SQLite program in recovery does): reads
    fail — after SQLite's own ~10 s of retries — with "locking protocol"."""
    proc = subprocess.Popen([sys.executable, "-c", SHM_LOCKER, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        proc.stdin.close()
        proc.wait(timeout=20)


@contextlib.contextmanager
def read_only(path: Path):
    """`path` really read-only, also for root (the immutable attribute), until the block ends."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)]).returncode:
            pytest.skip("running as root without chattr: cannot make a folder read-only")
        try:
            yield path
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield path
        finally:
            path.chmod(mode)


@contextlib.contextmanager
def small_disk(path: Path, size: str = "400k"):
    """A real, tiny file system at `path` (tmpfs; needs root)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                                           capture_output=True).returncode:
        pytest.skip("cannot mount a small file system here")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


class StartupDialog:
    """From a QTimer: wait for the real message box, keep its text and name, close it."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.names: list[str] = []
        self.formats: list[Qt.TextFormat] = []
        self._deadline = time.monotonic() + 30
        QTimer.singleShot(0, self._poll)

    def _poll(self) -> None:
        box = next((w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()), None)
        if box is not None:
            self.texts.append(box.text())
            self.names.append(box.objectName())
            self.formats.append(box.textFormat())
            box.done(0)
        window = next((w for w in QApplication.topLevelWidgets() if w.objectName() == "mainWindow" and w.isVisible()),
                      None)
        if window is not None:  # the app started after all: close it so the test fails instead of hanging
            self.names.append("mainWindow opened")
            window.close()
            return
        if box is None and time.monotonic() < self._deadline:
            QTimer.singleShot(20, self._poll)


@pytest.fixture
def start_app(qapp):
    """`diffusion-desk` (the window entry point, `app.__main__.main([])`) in this process; returns
    (exit code, dialog texts). Restores the hooks and log handlers the app installs."""
    from app.__main__ import main

    def run() -> tuple[int, StartupDialog]:
        dialog = StartupDialog()
        return main([]), dialog

    yield run
    reporter = getattr(qapp, "crash_reporter", None)
    if reporter is not None:
        reporter.uninstall()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "diffusion_desk", False)]:
        root.removeHandler(handler)
        with contextlib.suppress(OSError):  # a log file on a disk a test filled
            handler.close()
    qInstallMessageHandler(None)
    asyncio.set_event_loop(None)


def run_cli(*args: str, env: dict[str, str], cwd: Path = REPO) -> subprocess.CompletedProcess:
    full = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **env}
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=cwd, env=full, capture_output=True, text=True,
                          timeout=300)


def one_clear_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines, proc.stderr
    return lines[-1]  # the reason is the last thing printed


def our_database(path: Path) -> bytes:
    store = ChatStore(path)
    conv = store.create_conversation()
    store.add_user_message(conv.id, "kept")
    store.close()
    return path.read_bytes()


# -- the home and data folders ---------------------------------------------------------------------------------

def test_read_only_data_folder_is_a_message_and_a_non_zero_exit(start_app, portable_home):
    data = portable_home / "data"
    data.mkdir(parents=True)
    with read_only(data):
        code, dialog = start_app()
    assert code != 0 and dialog.names == ["startupErrorDialog"]
    assert str(data) in dialog.texts[0] and "read-only" in dialog.texts[0]
    assert dialog.formats == [Qt.TextFormat.PlainText]


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda home: (home.write_text("x"), str(home))[1], "which is a file, not a folder"),
        (lambda home: "~no-such-user-dd/desk", "there is no user"),
        (lambda home: str(home) + "\x1b[31m\x07", "control characters"),
        (lambda home: (home.mkdir(), (home / "data").write_text("x"), str(home))[2], "is a file, not a folder"),
    ],
    ids=["home-is-a-file", "tilde-unknown-user", "control-characters", "data-folder-is-a-file"],
)
def test_unusable_home_is_one_message_at_every_entry_point(start_app, tmp_path, monkeypatch, make, expected):
    value = make(tmp_path / "home")
    monkeypatch.setenv("DIFFUSION_DESK_HOME", value)
    code, dialog = start_app()
    assert code != 0 and len(dialog.texts) == 1 and expected in dialog.texts[0]
    line = one_clear_line(run_cli("--self-test", str(tmp_path / "st"), env={"DIFFUSION_DESK_HOME": value}))
    assert expected in line
    entry = run_cli("--install-desktop-entry", env={"DIFFUSION_DESK_HOME": value,
                                                     "XDG_DATA_HOME": str(tmp_path / "share")})
    assert entry.returncode == 0 and "Traceback" not in entry.stderr  # it needs no home: still works


def test_desktop_entry_into_a_file_and_self_test_into_a_file_say_so(tmp_path):
    blocker = tmp_path / "share"
    blocker.write_text("not a folder")
    line = one_clear_line(run_cli("--install-desktop-entry", env={"XDG_DATA_HOME": str(blocker)}))
    assert "desktop entry" in line.lower() and str(blocker) in line
    report = tmp_path / "report-here"
    report.write_text("a file")
    line = one_clear_line(run_cli("--self-test", str(report), env={"DIFFUSION_DESK_HOME": str(tmp_path / "h")}))
    assert str(report) in line and "folder" in line


def test_unwritable_log_folder_is_not_fatal(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "logs").write_text("a file where the log folder should be")
    proc = run_cli("--self-test", str(tmp_path / "st"), "--model", str(tmp_path / "no-model"),
                   env={"DIFFUSION_DESK_HOME": str(home)})
    assert "no log file" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.returncode == 1 and "self-test failed" in proc.stderr and "does not exist" in proc.stderr


def test_full_disk_at_startup_says_the_disk_is_full(start_app, portable_home):
    with small_disk(portable_home):
        for kind in ("config", "data", "cache", "logs"):
            (portable_home / kind).mkdir()
        with contextlib.suppress(OSError), open(portable_home / "filler", "wb") as filler:
            while True:
                filler.write(b"\0" * 65536)
        code, dialog = start_app()
    assert code != 0 and len(dialog.texts) == 1
    assert "disk is full" in dialog.texts[0] and "move it aside" not in dialog.texts[0]


# -- the chat database at startup --------------------------------------------------------------------------------

def test_database_locked_by_another_process_at_startup_says_in_use(start_app):
    from engine.paths import chats_db_path

    db = chats_db_path()
    our_database(db)
    with lock_held_by_another_process(db):
        before = db.read_bytes()
        code, dialog = start_app()
        assert db.read_bytes() == before
    text = dialog.texts[0]
    assert code != 0 and "in use by another program" in text and "move it aside" not in text and str(db) in text
    assert ChatStore(db).conversations()  # once the other program lets go, the history is there


@pytest.mark.parametrize("app_id", [0, 0x0F055112], ids=["other-tables", "other-application-id"])
def test_another_programs_database_is_refused_byte_identical(start_app, app_id):
    from engine.paths import chats_db_path

    db = chats_db_path()
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
    conn.execute("INSERT INTO moz_places (url) VALUES ('https://example.org')")
    conn.execute(f"PRAGMA application_id = {app_id}")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    code, dialog = start_app()
    assert code != 0 and str(db) in dialog.texts[0] and "another program" in dialog.texts[0]
    assert db.read_bytes() == before and not Path(f"{db}-wal").exists()
    with pytest.raises(ForeignDatabaseError):
        ChatStore(db)
    assert db.read_bytes() == before


def test_link_at_the_chats_path_to_another_programs_database_or_to_nothing(start_app, tmp_path):
    from engine.paths import chats_db_path

    db = chats_db_path()
    foreign = tmp_path / "places.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE bookmarks (x)")
    conn.commit()
    conn.close()
    before = foreign.read_bytes()
    db.symlink_to(foreign)
    code, dialog = start_app()
    assert code != 0 and "another program" in dialog.texts[0] and foreign.read_bytes() == before
    db.unlink()
    db.symlink_to(tmp_path / "gone" / "chats.sqlite3")
    code, dialog = start_app()
    assert code != 0 and "which does not exist" in dialog.texts[0] and str(db) in dialog.texts[0]


def test_chats_path_that_is_a_folder_or_a_read_only_file(start_app):
    from engine.paths import chats_db_path

    db = chats_db_path()
    db.mkdir()
    code, dialog = start_app()
    assert code != 0 and "is a folder, not a file" in dialog.texts[0]
    db.rmdir()
    before = our_database(db)
    with read_only(db):
        code, dialog = start_app()
        assert db.read_bytes() == before
    assert code != 0 and "read-only" in dialog.texts[0] and "move it aside" not in dialog.texts[0]


def test_our_older_database_is_still_opened_and_stamped(tmp_path):
    from app.store.migrations import APPLICATION_ID, SCHEMA_V1

    db = tmp_path / "v1.sqlite3"
    conn = sqlite3.connect(db)
    conn.executescript(SCHEMA_V1 + "; PRAGMA user_version = 1;")
    conn.execute("INSERT INTO conversations (title, created_at, updated_at) VALUES ('old', 0, 0)")
    conn.commit()
    conn.close()
    store = ChatStore(db)
    assert [c.title for c in store.conversations()] == ["old"]
    store.close()
    assert sqlite3.connect(db).execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


# -- the chat database while the window runs -----------------------------------------------------------------------

def test_locked_database_during_send_keeps_the_window_responsive_and_the_text(qtbot, desk):  # noqa: F811
    finished: list[int] = []
    desk.controller.answer_finished.connect(finished.append)
    composer = desk.window.chat.composer
    composer.setPlainText("a question while another program holds the lock")
    gaps: list[float] = []
    clock = QElapsedTimer()
    heartbeat = QTimer()
    heartbeat.setInterval(10)
    heartbeat.timeout.connect(lambda: (gaps.append(clock.restart()) if clock.isValid() else clock.start()))
    with lock_held_by_another_process(desk.store.path):
        heartbeat.start()
        QTimer.singleShot(50, lambda: qtbot.keyClick(composer, Qt.Key.Key_Return))
        qtbot.wait(600)
        QTimer.singleShot(50, desk.controller.new_conversation)  # another write the user triggers
        qtbot.wait(400)
        heartbeat.stop()
        banner = desk.window.findChild(QLabel, "errorBanner")
        assert "in use by another program" in banner.text() and not banner.isHidden()
        assert composer.toPlainText() == "a question while another program holds the lock"
        assert desk.controller.live is None and not finished
    assert max(gaps) < 1000, f"the GUI thread stalled {max(gaps)} ms"
    assert all(not desk.store.messages(c.id) for c in desk.store.conversations())  # nothing half-written
    answer = desk.store.message(ask(qtbot, desk, composer.toPlainText()))  # lock gone: Send works
    assert answer.status == "done" and desk.store.messages(answer.conversation_id)[0].text.startswith("a question")


# -- the settings file ---------------------------------------------------------------------------------------------

def test_model_path_with_control_characters_survives_a_restart(qtbot, tmp_path):
    odd = "/models/a\x01b\tc\nd\"e\\f\x1b[31m\x7f\u202eg"
    assert save_settings(AppSettings(sampler={"max_denoising_steps": 12, "t_min": 0.1}, model=odd)) == ""
    loaded = load_settings()
    assert loaded.model == odd and loaded.sampler == {"max_denoising_steps": 12, "t_min": 0.1}
    assert loaded.problem == ""
    # A hand-edited file with one unreadable line keeps the others, and says which line was dropped.
    settings_path().write_text('[app]\nmodel = "bad\x01ctl"\n\n[sampler]\nmax_denoising_steps = 12\n',
                               encoding="utf-8")
    desktop = create_desktop(store_path=tmp_path / "c.sqlite3", autoload=False)
    try:
        banner = desktop.window.findChild(QLabel, "errorBanner")
        assert desktop.controller.settings.sampler == {"max_denoising_steps": 12}
        assert "line 2 (model)" in banner.text() and "the other settings were kept" in banner.text()
    finally:
        desktop.window.close()


def test_settings_file_that_is_a_folder_never_crashes_loading_or_saving(qtbot, tmp_path):
    settings_path().mkdir(parents=True)
    desktop = create_desktop(store_path=tmp_path / "c.sqlite3", autoload=False)
    try:
        assert "Could not read" in desktop.window.findChild(QLabel, "errorBanner").text()
    finally:
        desktop.window.close()
    problem = save_settings(AppSettings(model="/m"))
    assert "not saved" in problem and settings_path().is_dir()
    assert not settings_path().with_suffix(".toml.tmp").exists()


def test_a_setting_that_cannot_be_saved_is_said_on_the_banner(qtbot, tmp_path):
    """Loading a model remembers it in settings; when the settings file cannot be written the banner says so."""
    from engine.paths import demo_model_dir

    settings_path().mkdir(parents=True)  # in the way of the file
    desktop = create_desktop(store_path=tmp_path / "c.sqlite3", autoload=False)
    try:
        with qtbot.waitSignal(desktop.controller.model_ready, timeout=60_000):
            desktop.controller.load_model(str(demo_model_dir()))
        banner = desktop.window.findChild(QLabel, "errorBanner")
        assert "Settings were not saved" in banner.text() and "until Diffusion Desk closes" in banner.text()
        assert settings_path().is_dir()
    finally:
        desktop.window.close()


def test_unreadable_database_while_the_window_runs_is_a_banner_not_a_crash(qtbot, chat_em, tmp_path):  # noqa: F811
    from app.shell.crash import CrashReporter
    from tests.app.helpers import open_desktop

    app = QApplication.instance()
    reporter = CrashReporter(tmp_path / "diffusion-desktop.log").install()
    app.crash_reporter = reporter  # as app.__main__ does: create_desktop routes notices to the window
    desktop = open_desktop(qtbot, chat_em, tmp_path / "chats.sqlite3")
    try:
        first = desktop.store.message(ask(qtbot, desktop, "the first chat")).conversation_id
        desktop.controller.new_conversation()
        second = desktop.controller.conversation_id
        assert second != first and reporter.notice_handler == desktop.window.show_notice
        banner = desktop.window.findChild(QLabel, "errorBanner")
        items = desktop.window.chat.conversations.list
        with reads_blocked_by_another_process(desktop.store.path):
            row = next(i for i in range(items.count()) if items.item(i).data(Qt.ItemDataRole.UserRole) == first)
            rect = items.visualItemRect(items.item(row))
            qtbot.mouseClick(items.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
            qtbot.waitUntil(lambda: not banner.isHidden(), timeout=30_000)
            assert "Could not read your chats" in banner.text() and "in use by another program" in banner.text()
            assert desktop.controller.conversation_id == second  # the open chat stays, and so does the selection
            assert desktop.window.chat.conversations.current_id() == second
            # A read that no caller handles (Export reads the title first) is a notice too, never the crash dialog.
            desktop.window.export_action.trigger()
            qtbot.waitUntil(lambda: "Could not read" in desktop.window.statusBar().currentMessage(), timeout=30_000)
        assert reporter.dialog is None and not reporter.reports
        qtbot.mouseClick(items.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # lock gone: it opens
        assert desktop.controller.conversation_id == first
        assert desktop.window.chat.messages.toPlainText().count("the first chat") >= 1
    finally:
        desktop.window.close()
        reporter.uninstall()
        del app.crash_reporter
