"""A keyboard-only walk through the real window and its Settings dialog (Tab, shortcuts, Esc), a hand-edited
settings file and a window on a small (150 %-scaled) screen. Each test here failed before the fix it names."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QPushButton, QToolButton

from app.chat.settings_dialog import HELP
from app.store.app_settings import AppSettings, load_settings, save_settings, settings_path
from tests.app.helpers import ask


def active(qtbot, widget) -> None:
    """Make `widget`'s window the active one, as a user's click or the window manager would."""
    widget.window().activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is widget.window(), timeout=5_000)


def press(qtbot, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A key press delivered where the keyboard is: the focused widget of the active window."""
    qtbot.keyClick(QApplication.focusWidget() or QApplication.activeWindow(), key, modifier)


def field(dialog, key: str) -> QLineEdit:
    return dialog.findChild(QLineEdit, f"setting_{key}")


# --- the main window by keyboard -------------------------------------------------------------------------------


def test_ctrl_n_on_another_page_brings_the_chat_with_the_cursor_in_the_message_box(qtbot, desk):
    # Before: on the Models page Ctrl+N made a chat out of sight, the page stayed and the focus went nowhere, so
    # the first words typed were lost.
    window = desk.window
    active(qtbot, window)
    window.nav.setCurrentRow(2)
    window.nav.setFocus()
    press(qtbot, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.pages.currentWidget() is window.chat
    qtbot.waitUntil(lambda: window.chat.composer.hasFocus(), timeout=5_000)
    qtbot.keyClicks(QApplication.focusWidget(), "typed")
    assert window.chat.composer.toPlainText() == "typed"


def test_every_page_has_a_shortcut_and_tooltips_name_the_keys(qtbot, desk):
    # Before: the rail's pages had no keys at all, and the toolbar's New chat / Settings / Export Markdown tooltips
    # repeated the button's text without the shortcut that does the same.
    window = desk.window
    active(qtbot, window)
    for row, name in enumerate(("Chat", "Compare", "Models", "GPU", "Server")):
        press(qtbot, Qt.Key(Qt.Key.Key_1 + row), Qt.KeyboardModifier.ControlModifier)
        assert window.pages.currentIndex() == row and window.nav.currentRow() == row
        assert window.nav.item(row).toolTip() == f"{name} (Ctrl+{row + 1})"
        focused = QApplication.focusWidget()
        assert focused is not None and window.pages.widget(row).isAncestorOf(focused), name
    for name, keys in (("newChatToolButton", "Ctrl+N"), ("settingsButton", "Ctrl+,"), ("exportButton", "Ctrl+E"),
                       ("compareToolButton", "Ctrl+Shift+K")):
        assert keys in window.findChild(QToolButton, name).toolTip(), name
    assert "Ctrl+R" in window.chat.regenerate_button.toolTip()
    shortcuts = [a.shortcut().toString() for a in window.actions() if not a.shortcut().isEmpty()]
    assert len(shortcuts) == len(set(shortcuts)), shortcuts


def test_ctrl_r_regenerates_the_last_answer(qtbot, desk):
    # Before: Regenerate had no key; by keyboard it took a walk of Tabs to a button.
    first = ask(qtbot, desk, "Hello")
    active(qtbot, desk.window)
    desk.window.chat.composer.setFocus()
    with qtbot.waitSignal(desk.controller.answer_finished, timeout=60_000) as finished:
        press(qtbot, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert finished.args[0] != first or desk.store.message(first).text


def test_escape_on_the_models_page_leaves_a_running_answer_alone(qtbot, desk):
    # Before: Esc anywhere in the window stopped the chat's answer — pressed in the Models page's token box, it
    # ended an answer the user could not even see.
    window = desk.window
    desk.controller.sampler = desk.controller.sampler.with_(max_new_tokens=64 * 40, max_denoising_steps=40)
    active(qtbot, window)
    window.chat.composer.setPlainText("A long one")
    qtbot.keyClick(window.chat.composer, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: desk.worker._cancel is not None, timeout=10_000)
    press(qtbot, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    press(qtbot, Qt.Key.Key_Escape)
    assert not desk.worker._cancel.is_set()
    with qtbot.waitSignal(desk.controller.answer_finished, timeout=60_000):
        press(qtbot, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
        press(qtbot, Qt.Key.Key_Escape)  # on the Chat page Esc stops it, as its tooltip says
    assert desk.worker._cancel.is_set()


def test_tab_moves_through_the_chat_page_in_reading_order(qtbot, desk):
    # Before: Tab went message box → Send → Regenerate → the rail, and the system prompt and Thinking came after
    # the whole canvas transport.
    ask(qtbot, desk, "Hello")
    window, chat = desk.window, desk.window.chat
    active(qtbot, window)

    def after(widget, presses: int = 1):
        widget.setFocus()
        for _ in range(presses):
            press(qtbot, Qt.Key.Key_Tab)
        return QApplication.focusWidget()

    assert after(window.nav) is window.model_picker
    assert after(chat.conversations.delete_button) is chat.system_prompt
    assert after(chat.thinking) is chat.messages
    assert after(chat.regenerate_button) is chat.canvas.view
    chat.composer.setFocus()
    press(qtbot, Qt.Key.Key_Backtab)
    assert QApplication.focusWidget() is chat.messages


def test_the_window_fits_a_small_screen_with_nothing_cut_off(qtbot, desk):
    # Before: the window opened at 1360x860 whatever the screen; at 150 % scaling a 1600x1000 screen has
    # 1066x666 of room, so the message box, Send and the status bar were below its bottom edge.
    window = desk.window
    room = QRect(0, 0, 1066, 666)
    window.fit_to(room)
    assert window.width() <= room.width() and window.height() <= room.height()
    assert room.contains(window.frameGeometry())
    for widget in (window.chat.composer, window.chat.send_button, window.stats_label, window.model_picker):
        corner = widget.mapTo(window, QPoint(widget.width() - 1, widget.height() - 1))
        assert window.rect().contains(corner), widget.objectName()


# --- the Settings dialog ---------------------------------------------------------------------------------------


def test_settings_errors_use_plain_words_and_put_the_cursor_on_the_bad_value(qtbot, desk):
    # Before: "must be a number in (0.0, 1000.0] (you entered inf)" for 1e400, "must be a number (you entered '')"
    # for an empty field (no range), and the cursor stayed where it was, not on the value to fix.
    dialog = desk.controller.open_settings()
    error = dialog.findChild(QLabel, "settingsError")
    ok = dialog.findChild(QPushButton, "settingsOk")
    field(dialog, "entropy_bound").setText("1e400")
    ok.click()
    assert "above 0 and at most 1000" in error.text() and "'1e400'" in error.text()
    assert "(0.0" not in error.text() and "inf" not in error.text()
    assert dialog.focusWidget() is field(dialog, "entropy_bound")
    assert field(dialog, "entropy_bound").selectedText() == "1e400"
    field(dialog, "entropy_bound").setText("0.1")
    field(dialog, "t_min").setText("-1")
    ok.click()
    assert "“Temperature at the end” must be a number from 0 to 100" in error.text()
    assert dialog.focusWidget() is field(dialog, "t_min")
    field(dialog, "t_min").setText("0.4")
    field(dialog, "max_new_tokens").setText("  ")
    ok.click()
    assert error.text() == "“Longest answer (tokens)” is empty: enter a whole number from 1 to 262144"
    dialog.reject()


def test_settings_read_a_decimal_comma_and_apply_to_the_next_answer(qtbot, desk):
    # Before: "0,25" (as typed with a German or French keyboard habit) was refused as "not a number".
    dialog = desk.controller.open_settings()
    field(dialog, "entropy_bound").setText("0,25")
    field(dialog, "max_new_tokens").setText("1,024")
    dialog.findChild(QPushButton, "settingsOk").click()
    assert not dialog.isVisible()
    assert desk.controller.sampler.entropy_bound == 0.25 and desk.controller.sampler.max_new_tokens == 1024
    assert load_settings().sampler["entropy_bound"] == 0.25


def test_the_focused_setting_explains_itself_without_a_mouse(qtbot, desk):
    # Before: what each setting does was only in tooltips ("Hover a setting…"), which a keyboard user never sees.
    dialog = desk.controller.open_settings()
    active(qtbot, dialog)
    help_label = dialog.findChild(QLabel, "settingHelp")
    field(dialog, "max_new_tokens").setFocus()
    press(qtbot, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is field(dialog, "max_denoising_steps")
    assert help_label.text() == HELP["max_denoising_steps"]
    for key in ("t_min", "confidence_threshold"):
        field(dialog, key).setFocus()
        assert help_label.text() == HELP[key]
    for widget in dialog.findChildren(QLineEdit):  # no code names on screen or in a tooltip's plain words
        assert "Engine setting" not in widget.toolTip()
    assert "torch.set_num_threads" not in dialog.threads.toolTip()
    press(qtbot, Qt.Key.Key_Escape)
    assert not dialog.isVisible()


# --- the settings file -----------------------------------------------------------------------------------------

HAND_EDITED = """[app]
model = "demo"
cpu_threads = two
compiled_path = true

[sampler]
max_denoising_steps = 12
t_min = 0.5
t_max = 0.45
max_new_tokens = 512
"""


def test_a_hand_edited_settings_file_keeps_every_good_value_and_a_copy_of_itself():
    # Before: one impossible pair (end temperature above the start one) threw away all the sampler settings, the
    # message quoted code ("line 5 (cpu_threads)", "t_max must be greater than t_min (got t_max=0.45…") and the
    # next change rewrote the file: the user's hand edit was gone for good.
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HAND_EDITED, encoding="utf-8")
    loaded = load_settings()
    assert loaded.sampler == {"max_denoising_steps": 12, "max_new_tokens": 512}
    for code in ("cpu_threads", "t_max", "t_min", "got "):
        assert code not in loaded.problem, code
    assert "processor threads" in loaded.problem and "“Temperature at the start”" in loaded.problem
    copy = path.with_name("settings.toml.damaged")
    assert copy.read_text(encoding="utf-8") == HAND_EDITED and str(copy) in loaded.problem
    save_settings(loaded)  # the app rewrites the file at its next change …
    load_settings()  # … and the next start makes no second copy of the same text
    assert copy.read_text(encoding="utf-8") == HAND_EDITED
    assert not path.with_name("settings.toml.damaged-2").exists()
    assert load_settings().problem == ""


def test_a_saved_value_that_does_not_suit_the_model_drops_only_itself():
    # Before: a start temperature the model's own end temperature was above made every saved choice go ("using the
    # model's defaults"), and the next save erased them from the file.
    settings = AppSettings(sampler={"t_min": 0.7, "max_new_tokens": 300, "max_denoising_steps": 9})
    defaults = {"max_new_tokens": 1024, "max_denoising_steps": 24, "entropy_bound": 0.1, "t_min": 0.4, "t_max": 0.6,
                "stability_threshold": 1, "confidence_threshold": 0.005}
    sampler = settings.sampler_for(defaults)
    assert (sampler.max_new_tokens, sampler.max_denoising_steps, sampler.t_min) == (300, 9, 0.4)
    assert "“Temperature at the end”" in settings.problem and "t_min" not in settings.problem
    assert settings.sampler["t_min"] == 0.7  # still saved for a model it suits


def test_the_regenerate_menu_opens_from_the_keyboard(qtbot, desk):
    # Before: "Same seed" was only reachable with the mouse (the arrow beside Regenerate).
    from PySide6.QtCore import QTimer

    ask(qtbot, desk, "Hello")
    active(qtbot, desk.window)
    button = desk.window.chat.regenerate_button
    button.setFocus()
    qtbot.waitUntil(button.hasFocus, timeout=5_000)
    seen: list[bool] = []

    def look_then_close() -> None:
        seen.append(button.menu().isVisible())
        button.menu().hide()

    QTimer.singleShot(200, look_then_close)
    press(qtbot, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)  # returns once the menu has closed
    qtbot.waitUntil(lambda: bool(seen), timeout=5_000)
    assert seen == [True] and "Alt+Down" in button.toolTip() and "Ctrl+R" in button.toolTip()
