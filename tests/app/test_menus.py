"""The menu bar: every window action is in a menu (keyboard users reach it with Alt+letter), Help lists the
shortcuts and says where the files are, File → Open a model folder uses the real folder dialog."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtWidgets import QApplication, QFileDialog, QLabel, QMenu, QTableWidget, QToolButton

from tests.app.helpers import ask, opened_urls
from tests.app.real_dialogs import answer_dialog, click_button, message_box


def menu(desk, name: str) -> QMenu:
    return desk.window.menuBar().findChild(QMenu, f"{name}Menu")


def titles(desk, name: str) -> list[str]:
    return [a.text().replace("&", "") for a in menu(desk, name).actions() if not a.isSeparator()]


def test_every_window_action_with_a_shortcut_is_in_a_menu(desk):
    bar = [a.text().replace("&", "") for a in desk.window.menuBar().actions()]
    assert bar == ["File", "Chat", "View", "Help"]
    in_menus = {a for name in ("file", "chat", "view", "help") for a in menu(desk, name).actions()}
    with_keys = [a for a in desk.window.actions() if not a.shortcut().isEmpty()]
    assert len(with_keys) >= 10
    assert [a.text() for a in with_keys if a not in in_menus] == []
    assert titles(desk, "file")[-1] == "Quit"
    assert titles(desk, "view") == ["Chat page", "Compare page", "Models page", "GPU page", "Server page",
                                    "Larger text", "Smaller text", "Default text size"]


def test_view_menu_switches_the_page(qtbot, desk):
    gpu = next(a for a in menu(desk, "view").actions() if a.text() == "GPU page")
    gpu.trigger()
    assert desk.window.pages.currentWidget() is desk.window.gpu_page
    menu(desk, "view").actions()[0].trigger()
    assert desk.window.pages.currentWidget() is desk.window.chat


def test_regenerate_is_greyed_in_the_menu_and_ctrl_r_says_why(qtbot, desk):
    desk.controller.new_conversation()
    chat_menu = menu(desk, "chat")
    chat_menu.aboutToShow.emit()
    assert not desk.window.regenerate_action.isEnabled()  # an empty chat: nothing to regenerate
    assert not desk.window.stop_action.isEnabled()  # nothing is running
    chat_menu.aboutToHide.emit()
    assert desk.window.regenerate_action.isEnabled() and desk.window.stop_action.isEnabled()
    desk.window.regenerate_action.trigger()
    assert "Nothing to regenerate" in desk.window.statusBar().currentMessage()

    ask(qtbot, desk, "Say it twice")
    chat_menu.aboutToShow.emit()
    assert desk.window.regenerate_action.isEnabled()
    chat_menu.aboutToHide.emit()


def test_keyboard_shortcuts_lists_the_window_and_widget_keys(qtbot, desk):
    dialog = desk.window.show_shortcuts()
    qtbot.waitExposed(dialog)
    table = dialog.findChild(QTableWidget, "shortcutsTable")
    rows = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    assert rows["Quit"] == "Ctrl+Q" and rows["Regenerate"] == "Ctrl+R" and rows["GPU page"] == "Ctrl+4"
    assert rows["Send the message"].startswith("Enter")
    assert rows["Rename the selected chat"].startswith("F2")
    assert desk.window.show_shortcuts() is dialog  # F1 again brings the same one to the front
    dialog.close()  # deleted once closed: an app kept open all day does not collect them
    qtbot.waitUntil(lambda: desk.window.shortcuts_dialog is None, timeout=5_000)
    assert desk.window.show_shortcuts() is not None
    desk.window.shortcuts_dialog.close()


def test_about_says_the_version_and_where_the_chats_are(qtbot, desk):
    from engine.paths import data_dir

    seen: list = []
    answer_dialog(message_box("aboutBox"), click_button("Close"), seen)
    desk.window.about_action.trigger()
    qtbot.waitUntil(lambda: bool(seen), timeout=10_000)
    assert seen[0].text().startswith("Diffusion Desk ")
    assert f"Chats: {data_dir()}" in seen[0].informativeText()
    assert "Logs: " in seen[0].informativeText()


def folder_dialog():
    return next((w for w in QApplication.topLevelWidgets()
                 if isinstance(w, QFileDialog) and w.objectName() == "openModelFolderDialog" and w.isVisible()), None)


def test_open_model_folder_uses_the_real_dialog_at_home_and_loads_the_choice(qtbot, desk, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    not_a_model = tmp_path / "holiday-photos"
    not_a_model.mkdir()
    seen: list = []

    def choose(dialog: QFileDialog) -> None:
        seen.append((dialog.directory().absolutePath(),
                     any(b.objectName() == "toParentButton" and not b.icon().isNull()
                         for b in dialog.findChildren(QToolButton))))
        dialog.selectFile(str(not_a_model))
        dialog.accept()

    answer_dialog(folder_dialog, choose, seen)
    with qtbot.waitSignal(desk.worker.error, timeout=30_000):
        desk.window.open_model_action.trigger()
    assert Path(seen[1][0]) == tmp_path  # opens at home, not wherever the app was started
    assert seen[1][1], "the dialog's Up button has no icon"
    banner = desk.window.findChild(QLabel, "errorBanner")
    qtbot.waitUntil(lambda: "holiday-photos" in banner.text() and "not a model folder" in banner.text())
    assert desk.window.model_picker.currentData() == desk.controller.model.source  # the loaded model stays


def test_open_model_folder_cancelled_keeps_the_picker_on_the_loaded_model(qtbot, desk):
    before = desk.window.model_picker.currentIndex()
    seen: list = []
    answer_dialog(folder_dialog, lambda d: d.reject(), seen)
    desk.window.open_model_action.trigger()
    assert seen and desk.window.model_picker.currentIndex() == before
    assert QApplication.activeModalWidget() is None


def test_about_opens_the_chats_folder_and_stays_open(qtbot, desk):
    from engine.paths import data_dir

    with opened_urls("file") as opened:
        desk.window.about_action.trigger()
        qtbot.waitUntil(lambda: message_box("aboutBox")() is not None, timeout=10_000)
        box = message_box("aboutBox")()
        next(b for b in box.buttons() if b.text() == "Open chats folder").click()
        assert [QUrl(u).toLocalFile() for u in opened.urls] == [str(data_dir())]
        assert box.isVisible()  # the box stays: the folder opens beside it
        click_button("Close")(box)
        qtbot.waitUntil(lambda: message_box("aboutBox")() is None, timeout=5_000)


def test_ctrl_f_goes_to_the_chat_search_from_any_page_and_esc_clears_it(qtbot, desk):
    desk.controller.new_conversation()
    ask(qtbot, desk, "lighthouse keepers")
    desk.window.show_page(3)
    search = desk.window.chat.conversations.search
    search.setText("old words")
    desk.window.activateWindow()
    qtbot.keyClick(desk.window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert desk.window.pages.currentWidget() is desk.window.chat
    qtbot.waitUntil(search.hasFocus)
    assert search.selectedText() == "old words"  # typing replaces the last search
    qtbot.keyClicks(search, "lighthouse")
    assert desk.window.chat.conversations.list.count() == 1
    stopped: list = []
    desk.window.stop_action.triggered.connect(lambda: stopped.append(True))
    qtbot.keyClick(search, Qt.Key.Key_Escape)
    assert search.text() == "" and not stopped  # Esc cleared the search; it did not reach Stop
    qtbot.keyClick(search, Qt.Key.Key_Escape)
    assert stopped  # on an empty search Esc is the window's Stop again


def test_larger_text_grows_the_messages_and_is_kept_for_the_next_start(qtbot, desk):
    from app.store.app_settings import load_settings

    desk.controller.new_conversation()
    ask(qtbot, desk, "read me")
    view = desk.window.chat.messages
    for _ in range(3):  # from the app's 10 pt
        desk.window.larger_text_action.trigger()
    assert view.fontInfo().pointSize() == 13 == desk.window.chat.composer.fontInfo().pointSize()
    assert "13 pt" in desk.window.statusBar().currentMessage()
    assert load_settings().text_size == 13
    for _ in range(20):
        desk.window.smaller_text_action.trigger()
    assert view.fontInfo().pointSize() == 8 and "smallest" in desk.window.statusBar().currentMessage()
    desk.window.default_text_action.trigger()
    assert view.fontInfo().pointSize() == 10 and load_settings().text_size == 0


def test_a_bad_text_size_in_the_settings_file_is_dropped_with_a_message(tmp_path):
    from app.store.app_settings import load_settings

    path = tmp_path / "settings.toml"
    path.write_text("[app]\ntext_size = 400\ncompiled_path = false\n", encoding="utf-8")
    settings = load_settings(path)
    assert settings.text_size == 0 and settings.compiled_path is False  # the other line is kept
    assert "text size" in settings.problem
