"""Issue 12's everyday paths through the real window: real dialogs (driven by a QTimer), real keys, real files.

Delete with its confirmation, Ctrl+Q and the Delete key, state that belongs to one conversation, plain wording,
export, the CPU thread count, and the Linux start-up check. The Models page's everyday paths are in
test_models_page_everyday.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QToolButton,
    QToolTip,
)

from tests.app.helpers import ask
from tests.app.real_dialogs import answer_dialog, click_button, message_box

ROOT = Path(__file__).resolve().parents[2]
LONG_PROMPT = "x" * 5000  # the test model's context holds 4096 tokens (one per character)


def brightest(image) -> int:
    """The lightness of the lightest visible pixel of an icon image (0 when it is empty)."""
    return max((image.pixelColor(x, y).lightness() for x in range(image.width()) for y in range(image.height())
                if image.pixelColor(x, y).alpha() > 128), default=0)


def canvas_note(desk) -> str:
    """The sentence the canvas shows when it has no frame to paint."""
    return desk.window.chat.canvas.view._note


def banner(desk) -> str:
    label = desk.window.findChild(QLabel, "errorBanner")
    return "" if label.isHidden() else label.text()


def banner_colour(desk):
    """The banner's background as the app's style sheet paints it (set on the label alone: cheaper than theming
    the whole test window)."""
    label = desk.window.findChild(QLabel, "errorBanner")
    label.setStyleSheet((ROOT / "resources" / "style.qss").read_text(encoding="utf-8"))
    image = label.grab().toImage()
    return image.pixelColor(image.width() // 2, 3)


# -- defect 1 and 6: delete with the real confirmation, the Delete key, Ctrl+Q ------------------------------------

def test_delete_button_asks_with_the_real_dialog_then_deletes(qtbot, desk):
    first = desk.controller.new_conversation()
    second = desk.store.create_conversation("Keep or drop").id
    desk.controller.refresh_conversations()
    desk.controller.open_conversation(second)
    delete = desk.window.findChild(QPushButton, "deleteChatButton")
    seen: list = []
    answer_dialog(message_box(), click_button("Cancel"), seen)
    qtbot.mouseClick(delete, Qt.MouseButton.LeftButton)
    assert seen and "Keep or drop" in seen[0].text()
    assert second in [c.id for c in desk.store.conversations()]

    seen.clear()
    answer_dialog(message_box(), click_button("Delete"), seen)
    qtbot.mouseClick(delete, Qt.MouseButton.LeftButton)
    assert seen, "no confirmation dialog appeared"
    assert [c.id for c in desk.store.conversations()] == [first]
    assert desk.controller.conversation_id == first

    # The last chat goes: a blank page, whose next chat starts without the deleted one's system prompt or Thinking.
    page = desk.window.chat
    page.system_prompt.setText("Only for the first chat.")
    page.system_prompt.editingFinished.emit()
    page.thinking.setChecked(True)
    answer_dialog(message_box(), click_button("Delete"), seen)
    qtbot.mouseClick(delete, Qt.MouseButton.LeftButton)
    assert desk.store.conversations() == [] and desk.controller.conversation_id is None
    assert page.system_prompt.text() == "" and not page.thinking.isChecked()


def test_delete_key_deletes_the_selected_chat_after_confirmation(qtbot, desk):
    desk.controller.new_conversation()
    doomed = desk.controller.new_conversation()
    chats = desk.window.findChild(QListWidget, "conversationList")
    chats.setFocus()
    qtbot.waitUntil(chats.hasFocus)
    seen: list = []
    answer_dialog(message_box(), click_button("Delete"), seen)
    qtbot.keyClick(chats, Qt.Key.Key_Delete)
    assert seen, "the Delete key did not ask"
    assert doomed not in [c.id for c in desk.store.conversations()]


def test_ctrl_q_quits(qtbot, desk):
    desk.window.activateWindow()
    qtbot.waitUntil(desk.window.isActiveWindow)
    qtbot.keyClick(desk.window.chat.composer, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not desk.window.isVisible(), timeout=5_000)


def test_regenerate_is_off_in_an_empty_chat(qtbot, desk):
    regenerate = desk.window.findChild(QToolButton, "regenerateButton")
    desk.controller.new_conversation()
    assert not regenerate.isEnabled()
    ask(qtbot, desk, "Something to regenerate")
    assert regenerate.isEnabled()
    desk.controller.new_conversation()
    assert not regenerate.isEnabled()


# -- defect 2: nothing leaks from one conversation into another ---------------------------------------------------

def test_an_error_stays_with_its_chat_and_leaves_no_empty_bubble(qtbot, desk):
    failing = desk.controller.new_conversation()
    with qtbot.waitSignal(desk.controller.answer_finished, timeout=60_000):
        desk.window.chat.composer.setPlainText(LONG_PROMPT)
        qtbot.keyClick(desk.window.chat.composer, Qt.Key.Key_Return)
    assert "context" in banner(desk).lower() and "back in the box" in banner(desk)
    assert desk.store.messages(failing) == []  # no unanswerable question, no "error (empty answer)" bubble
    assert desk.window.chat.composer.toPlainText() == LONG_PROMPT  # given back to shorten or send elsewhere
    assert "Waiting for the first" not in canvas_note(desk)
    assert desk.store.conversation(failing).title == "New chat"  # empty again, so untitled again
    desk.window.chat.composer.clear()

    fresh = desk.store.create_conversation("Another chat").id
    desk.controller.refresh_conversations()
    desk.controller.open_conversation(fresh)
    assert banner(desk) == ""  # the error does not follow to the new chat
    assert "Waiting for the first" not in canvas_note(desk)
    assert desk.window.chat.canvas.frames == []

    chats = desk.window.findChild(QListWidget, "conversationList")
    row = next(i for i in range(chats.count()) if chats.item(i).data(Qt.ItemDataRole.UserRole) == failing)
    chats.setCurrentRow(row)
    assert "context" in banner(desk).lower()  # …and it is still there when coming back
    assert desk.controller.conversation_id == failing != fresh


def test_a_new_chat_shows_its_own_canvas_and_status(qtbot, desk):
    desk.controller.new_conversation()
    ask(qtbot, desk, "Fill the canvas")
    stats = desk.window.findChild(QLabel, "statsLabel")
    assert "tok/s" in stats.text() and desk.window.chat.canvas.frames
    answered = desk.controller.conversation_id

    desk.controller.new_conversation()
    assert desk.window.chat.canvas.frames == []
    assert "tok/s" not in stats.text() and "ready" in stats.text()
    assert "No answer in this chat yet" in canvas_note(desk)

    desk.controller.open_conversation(answered)
    assert desk.window.chat.canvas.frames and "tok/s" in stats.text()



def test_a_reloaded_model_keeps_the_open_answers_figures_on_the_status_line(qtbot, desk, chat_em):
    """After a relaunch (or any reload) the status line shows the open chat's last answer, not a bare "ready"."""
    desk.controller.new_conversation()
    ask(qtbot, desk, "Fill the canvas")
    stats = desk.window.findChild(QLabel, "statsLabel")
    shown = stats.text()
    assert "tok/s" in shown
    with qtbot.waitSignal(desk.controller.model_ready, timeout=60_000):
        desk.worker.use_model(chat_em, "tiny-test")
    assert "tok/s" in stats.text() and "ready" not in stats.text()


def test_the_bubble_never_shows_the_random_start(qtbot, desk):
    """Step 0 (the random initial canvas) reaches the canvas, but the live bubble starts at the first guess."""
    steps_on_canvas, drafts = [], []
    canvas, messages = desk.window.chat.canvas, desk.window.chat.messages
    real_live_frame, real_update_live = canvas.live_frame, messages.update_live

    def live_frame(frame):
        steps_on_canvas.append(frame.step)
        real_live_frame(frame)

    def update_live(committed, spans, *args, **kwargs):
        if spans:  # a draft drawn in the bubble (an empty one only clears it)
            drafts.append(steps_on_canvas[-1])
        real_update_live(committed, spans, *args, **kwargs)

    canvas.live_frame, messages.update_live = live_frame, update_live  # observed, not replaced: both still run
    desk.controller.new_conversation()
    ask(qtbot, desk, "Fill the canvas")
    assert 0 in steps_on_canvas and drafts and 0 not in drafts


# -- defect 4 and 7: layout and plain words -----------------------------------------------------------------------

def test_settings_tooltips_wrap_and_labels_and_errors_are_plain(qtbot, desk):
    dialog = desk.controller.open_settings()
    labels = " ".join(label.text() for label in dialog.findChildren(QLabel))
    for jargon in ("t min", "t max", "entropy bound", "max denoising steps"):
        assert jargon not in labels
    field = dialog.findChild(QLineEdit, "setting_entropy_bound")
    QToolTip.showText(field.mapToGlobal(QPoint(4, 4)), field.toolTip(), field)
    tip = next(w for w in QApplication.topLevelWidgets() if w.objectName() == "qtooltip_label" and w.isVisible())
    assert tip.width() < 520, f"the tooltip is {tip.width()} px wide"
    assert "entropy_bound" in field.toolTip()  # the expert name stays, in the tooltip
    QToolTip.hideText()

    dialog.findChild(QLineEdit, "setting_t_max").setText("0.01")
    dialog.findChild(QPushButton, "settingsOk").click()
    error = dialog.findChild(QLabel, "settingsError").text()
    assert error and "t_max" not in error and "t_min" not in error and "Temperature" in error
    dialog.findChild(QLineEdit, "setting_t_max").setText("1.0")
    dialog.findChild(QLineEdit, "setting_max_denoising_steps").setText("0")
    dialog.findChild(QPushButton, "settingsOk").click()
    error = dialog.findChild(QLabel, "settingsError").text()
    assert error and "max_denoising_steps" not in error
    dialog.reject()


def test_status_line_and_picker_speak_plainly(qtbot, desk):
    desk.controller.new_conversation()
    ask(qtbot, desk, "Plain words please")
    stats = desk.window.findChild(QLabel, "statsLabel")
    assert "tokens/forward" not in stats.text() and "TTFF" not in stats.text()
    assert "tokens_per_forward" in stats.toolTip()
    picker_labels = [desk.window.model_picker.itemText(i) for i in range(desk.window.model_picker.count())]
    assert not any("untrained" in label or "output is noise" in label for label in picker_labels)
    raw = desk.window.chat.messages.document().toRawText()
    assert "Same\xa0seed" in raw and "Same seed" not in raw  # the link never wraps between its words


def test_the_answer_header_never_breaks_inside_its_speed(qtbot, desk):
    """At every width the header's "N tok/s" stays on one line (Qt would break after the slash)."""
    desk.controller.new_conversation()
    ask(qtbot, desk, "A speed to show")
    document = desk.window.chat.messages.document().clone()
    for width in range(140, 700, 3):
        document.setTextWidth(width)
        document.documentLayout().documentSize()
        block = document.firstBlock()
        while block.isValid():
            layout, text = block.layout(), block.text()
            for i in range(layout.lineCount()):
                line = layout.lineAt(i)
                piece = text[line.textStart(): line.textStart() + line.textLength()].replace("\u2060", "")
                assert not piece.rstrip().endswith(("tok/", "tok")), (width, piece)
            block = block.next()


# -- defect 4 and 6: export opens in Documents, with icons, and says where it wrote --------------------------------

def test_export_opens_in_documents_with_icons_and_confirms(qtbot, desk, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))
    (tmp_path / "Documents").mkdir()
    desk.controller.new_conversation()
    ask(qtbot, desk, "Export this")
    seen: list = []

    def save_here(dialog: QFileDialog) -> None:
        up = next(b for b in dialog.findChildren(QToolButton) if b.objectName() == "toParentButton")
        seen.append((dialog.directory().absolutePath(), brightest(up.grab().toImage())))
        dialog.selectFile(str(tmp_path / "Documents" / "exported.md"))
        dialog.accept()

    def find():
        return next((w for w in QApplication.topLevelWidgets() if isinstance(w, QFileDialog) and w.isVisible()), None)

    answer_dialog(find, save_here, seen)
    with qtbot.waitSignal(desk.controller.export_finished, timeout=10_000):
        desk.window.export_action.trigger()
        qtbot.waitUntil(lambda: bool(seen), timeout=10_000)
    folder, up_button_lightness = seen[1]
    assert Path(folder) == tmp_path / "Documents"
    assert up_button_lightness > 150, "the Up button shows no icon (blank or dark on the dark theme)"
    out = tmp_path / "Documents" / "exported.md"
    assert out.read_text(encoding="utf-8").startswith("# Export this")
    assert str(out) in banner(desk)
    colour = banner_colour(desk)  # a success is not shown in the warning's amber
    assert colour.blue() > colour.red(), colour.name()


def test_an_info_note_goes_by_itself_but_a_warning_stays(qtbot, desk, monkeypatch):
    page = desk.window.chat
    monkeypatch.setattr(type(page), "INFO_BANNER_MS", 50)
    page.show_banner("Exported this chat to /tmp/x.md", kind="info")
    qtbot.waitUntil(lambda: banner(desk) == "", timeout=5_000)
    page.show_banner("Could not export: disk full.")
    colour = banner_colour(desk)
    assert colour.red() > colour.blue(), colour.name()
    qtbot.wait(200)
    assert banner(desk) == "Could not export: disk full."
    page.show_banner("Exported again", kind="info")
    page.show_banner("A warning that replaced the note")  # the note's timer must not hide the warning
    qtbot.wait(200)
    assert banner(desk) == "A warning that replaced the note"


# -- defect 9: the worker chooses its CPU threads; a setting changes it --------------------------------------------

def test_worker_uses_fewer_threads_than_cores_and_the_setting_changes_it(qtbot, desk):
    from engine import default_cpu_threads

    desk.controller.new_conversation()
    ask(qtbot, desk, "How many threads?")
    assert desk.worker.cpu_threads() == default_cpu_threads() < max(2, os.cpu_count() or 1)
    dialog = desk.controller.open_settings()
    dialog.threads.setValue(1)
    dialog.findChild(QPushButton, "settingsOk").click()
    assert desk.controller.settings.cpu_threads == 1
    ask(qtbot, desk, "And now?")
    assert desk.worker.cpu_threads() == 1
    stats = desk.window.findChild(QLabel, "statsLabel").text()
    assert "CPU" in stats  # on the CPU the status line says the processor is the limit


def test_cpu_note_says_when_other_programs_are_the_bottleneck():
    from app.chat.cpu_status import cpu_busy_by_others, cpu_note

    assert "bottleneck" in cpu_note("cpu", 1, busy=True)
    assert "bottleneck" not in cpu_note("cpu", 1, busy=False) and cpu_note("cuda:0", 4) == ""
    assert cpu_busy_by_others(load=5.0, cores=2) and not cpu_busy_by_others(load=0.5, cores=2)


# -- defect 10: missing X11 libraries give the install command, not "Aborted" --------------------------------------

def test_launcher_prints_the_install_command_when_xcb_libraries_are_missing(tmp_path):
    """The real launcher, with an `ldd` that reports two libraries of Qt's xcb plugin as not found."""
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "ldd").write_text("#!/bin/sh\necho '\tlibxcb-icccm.so.4 => not found'\n"
                               "echo '\tlibxcb-keysyms.so.1 => not found'\necho '\tlibc.so.6 => /lib/libc.so.6'\n")
    (tools / "ldd").chmod(0o755)
    env = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}", "DISPLAY": ":97",
           "QT_QPA_PLATFORM": "xcb", "DIFFUSION_DESK_HOME": str(tmp_path / "home")}
    run = subprocess.run([sys.executable, "-m", "app"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 3, run.stderr[-2000:]
    assert "libxcb-icccm.so.4" in run.stderr and "Aborted" not in run.stderr
    assert any(cmd in run.stderr for cmd in ("apt install libxcb-icccm4 libxcb-keysyms1",
                                             "dnf install xcb-util-wm xcb-util-keysyms",
                                             "pacman -S --needed xcb-util-wm xcb-util-keysyms"))
    log = (tmp_path / "home" / "logs" / "diffusion-desk.log").read_text(encoding="utf-8")
    assert "could not start" in log and "libxcb-icccm.so.4" in log


def test_install_hint_per_distribution():
    from app.shell.qt_libs import distribution, install_hint, missing_libraries, platform_is_xcb

    fake = "\tlibxcb-cursor.so.0 => /lib/libxcb-cursor.so.0\n\tlibxcb-icccm.so.4 => not found\n"
    assert missing_libraries(Path("/fake/libqxcb.so"), ldd=lambda _p: fake) == ["libxcb-icccm.so.4"]
    assert "sudo dnf install xcb-util-wm" in install_hint(["libxcb-icccm.so.4"], distribution('ID="fedora"'))
    assert "pacman -S --needed xcb-util-keysyms" in install_hint(["libxcb-keysyms.so.1"], distribution("ID=arch"))
    ubuntu = distribution("ID=ubuntu\nID_LIKE=debian")
    assert "apt install libxcb-icccm4" in install_hint(["libxcb-icccm.so.4"], ubuntu)
    assert platform_is_xcb({"DISPLAY": ":0"}, "linux")
    assert not platform_is_xcb({"QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert not platform_is_xcb({"DISPLAY": ":0"}, "darwin")
    wayland = {"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland"}
    assert not platform_is_xcb(wayland, "linux")


def test_status_line_of_a_server_without_steps_names_no_steps():
    """A vLLM-style remote reports tokens and speed but no denoising steps: the line says what it knows."""
    from app.chat.export import stats_text

    line = stats_text("Remote", "remote", {"tokens_per_second": 480.8, "decoder_forwards": 0,
                                           "tokens_per_forward": 0.0, "ttft_s": 0.0, "canvases": 2})
    assert "480.8 tok/s" in line and "0.0" not in line and "steps" not in line
