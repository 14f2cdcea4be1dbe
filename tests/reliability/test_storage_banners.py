"""Class 7 (catalogue), the storage problems the window lives through: a chat database locked or unreadable while
the window runs, a settings file that cannot be read or written. Each is a banner that says why — never a freeze,
a crash dialog or lost text. Real SQLite locks held by a second process, real files in the portable home."""

from __future__ import annotations

from PySide6.QtCore import QElapsedTimer, Qt, QTimer
from PySide6.QtWidgets import QApplication, QLabel

from app.shell.desktop import create_desktop
from app.store.app_settings import AppSettings, load_settings, save_settings, settings_path
from tests.app.conftest import chat_em, desk  # noqa: F401 - fixtures
from tests.app.helpers import ask
from tests.reliability.sqlite_locks import lock_held_by_another_process, reads_blocked_by_another_process

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
