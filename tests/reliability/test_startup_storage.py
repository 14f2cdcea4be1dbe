"""Class 7 (catalogue): startup and storage. Every entry point turns an unusable home, folder, settings file or
chat database into one clear message — a real QMessageBox (answered from a QTimer) where a window can exist, a
stderr line otherwise — and a non-zero exit; another program's database is left byte-identical. Real files, real
SQLite locks held by a second process, real read-only folders (chattr +i when running as root, where permission
bits do not bind). The problems a running window survives with a banner are in test_storage_banners.py."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer, qInstallMessageHandler
from PySide6.QtWidgets import QApplication, QMessageBox

from app.store.chats import ChatStore, ForeignDatabaseError
from tests.reliability.sqlite_locks import lock_held_by_another_process

REPO = Path(__file__).resolve().parents[2]


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
