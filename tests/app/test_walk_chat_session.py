"""A long everyday chat session walked through the real window (the demo-style user of LM Studio / Jan): pasted
code, text that looks like HTML, switching and deleting chats mid-answer, export, rename. Each test here failed
before the fix it names."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QTextBrowser

from tests.app.helpers import ask

PASTED_CODE = "Check this code:\n```python\ndef f(x):\n    if x:\n        return '<b>' + x\n```\n\tTabbed  twice"


def view(desk) -> QTextBrowser:
    return desk.window.findChild(QTextBrowser, "messageView")


def test_pasted_code_in_a_question_keeps_its_indentation_and_shows_as_text(qtbot, desk):
    # Before: the question's bubble collapsed runs of spaces ("return '<b>' + x" at the left edge) and tabs.
    ask(qtbot, desk, PASTED_CODE)
    shown = view(desk).toPlainText().replace("\u2028", "\n").replace("\u2029", "\n")
    assert "def f(x):\n    if x:\n        return '<b>' + x\n" in shown
    assert "\tTabbed  twice" in shown


def long_chat(store, title: str, turns: int = 14) -> tuple[int, list[int]]:
    """A stored chat of `turns` questions with several-line answers; returns its id and its answers' ids."""
    conv = store.create_conversation(title).id
    answers = []
    for n in range(turns):
        store.add_user_message(conv, f"Question {n} of {title}")
        answer = store.start_assistant(conv, seed=n, settings={}, model="tiny-test")
        text = f"Answer {n} of {title}.\n\n" + " ".join(["words"] * 60)
        store.finish_assistant(answer.id, text=text, thinking="", stats=None, status="done")
        answers.append(answer.id)
    return conv, answers


def bar(desk):
    return view(desk).verticalScrollBar()


def test_opening_a_chat_shows_its_newest_message_beside_its_canvas(qtbot, desk):
    # Before: a chat opened where the previous one had been scrolled to (its top after a relaunch), so a 14-turn
    # chat showed its first question while the canvas showed its last answer.
    first, _ = long_chat(desk.store, "First")
    second, _ = long_chat(desk.store, "Second")
    desk.controller.refresh_conversations()
    desk.controller.open_conversation(first)
    qtbot.waitUntil(lambda: bar(desk).maximum() > 0)
    bar(desk).setValue(0)  # the user reads the first chat from the top
    desk.controller.open_conversation(second)
    assert bar(desk).maximum() > 0 and bar(desk).value() == bar(desk).maximum()


def test_a_chat_opened_before_the_window_is_laid_out_shows_its_newest_message(qtbot, chat_em, tmp_path):
    # Before: after a relaunch the open chat showed its first turns (it was scrolled before the view had a size).
    from tests.app.helpers import open_desktop

    path = tmp_path / "chats.sqlite3"
    desk = open_desktop(qtbot, chat_em, path)
    long_chat(desk.store, "Long one")
    desk.window.close()
    desk = open_desktop(qtbot, chat_em, path)
    try:
        qtbot.waitUntil(lambda: bar(desk).maximum() > 0)
        qtbot.waitUntil(lambda: bar(desk).value() == bar(desk).maximum())
    finally:
        desk.window.close()


def test_replay_canvas_of_an_earlier_answer_keeps_the_view_where_it_was(qtbot, desk):
    # Before: Replay canvas (and a thought opened) on an earlier answer re-rendered the chat and threw the view
    # to its first message.
    from tests.app.helpers import click_link

    conv, answers = long_chat(desk.store, "Scroll me")
    desk.controller.refresh_conversations()
    desk.controller.open_conversation(conv)
    qtbot.waitUntil(lambda: bar(desk).maximum() > 0)
    middle = bar(desk).maximum() // 2
    bar(desk).setValue(middle)
    click_link(view(desk), view(desk).action_href("replay", answers[6]))
    assert desk.controller.selected_answer == answers[6]
    assert bar(desk).value() == middle


def test_opening_a_thought_keeps_the_answers_versions_row(qtbot, desk):
    # Before: showing or hiding a thought re-rendered without the versions, so a rewritten answer lost its
    # "‹ previous · version 2/2 · next ›" row and its "rewritten: …" header until the chat was reopened.
    from app.store.versions import VersionStore
    from tests.app.helpers import click_link

    conv = desk.store.create_conversation("Thinking chat").id
    desk.store.add_user_message(conv, "Think first")
    answer = desk.store.start_assistant(conv, seed=1, settings={}, model="tiny-test")
    desk.store.finish_assistant(answer.id, text="An answer to rewrite.", thinking="some careful thought",
                                stats=None, status="done")
    VersionStore(desk.store).add(answer.id, "An answer rewritten.", instruction="shorter", span=(3, 9), seed=7)
    desk.controller.refresh_conversations()
    desk.controller.open_conversation(conv)
    assert "version 2/2" in view(desk).toPlainText().replace("\xa0", " ")
    click_link(view(desk), view(desk).action_href("thought", answer.id))
    shown = view(desk).toPlainText().replace("\xa0", " ")
    assert "some careful thought" in shown
    assert "version 2/2" in shown and "rewritten: “shorter”" in shown


def stored_chat_to_export(desk) -> tuple[int, int]:
    """A chat with a system prompt, a pasted question, a thought, a rewritten answer shown at version 2 of 3 and
    an answer stopped early; returns its id and the rewritten answer's id."""
    from app.store.versions import VersionStore

    store = desk.store
    conv = store.create_conversation("<img src=x> " + "T" * 300, system_prompt="Be **brief**.\n<b>always</b>").id
    store.add_user_message(conv, "Look:\n```python\nprint('<b>')\n\n## Model (fake)\n<script>x</script>")
    answer = store.start_assistant(conv, seed=11, settings={}, model="tiny-test")
    store.finish_assistant(answer.id, text="The first answer.", thinking="I thought </details> hard",
                           stats=None, status="done")
    versions = VersionStore(store)
    versions.add(answer.id, "The second answer.", instruction="shorter", span=(4, 9), seed=22)
    versions.add(answer.id, "The third answer.", instruction="longer", span=(4, 10), seed=33)
    versions.select(answer.id, 2)
    store.add_user_message(conv, "And then?")
    stopped = store.start_assistant(conv, seed=44, settings={}, model="tiny-test")
    store.finish_assistant(stopped.id, text="Half an ans", thinking="", stats=None, status="cancelled")
    desk.controller.refresh_conversations()
    desk.controller.open_conversation(conv)
    return conv, answer.id


def headings_outside_fences(markdown: str) -> list[str]:
    """The "## " lines a Markdown reader shows as headings (those not inside a fenced block)."""
    found, fence = [], ""
    for line in markdown.splitlines():
        ticks = len(line) - len(line.lstrip("`"))
        if fence and line.strip() == fence:
            fence = ""
        elif not fence and ticks >= 3:
            fence = "`" * ticks
        elif not fence and line.startswith("## "):
            found.append(line)
    return found


def export_through_the_dialog(qtbot, desk, path) -> str:
    """Export with the real save dialog to `path`; returns the name the dialog proposed."""
    from pathlib import Path

    dialog = desk.controller.export_dialog()
    proposed = Path(dialog.selectedFiles()[0]).name
    with qtbot.waitSignal(desk.controller.export_finished, timeout=10_000) as done:
        dialog.selectFile(str(path))
        dialog.accept()
    assert done.args == [str(path), ""]
    return proposed


def test_markdown_export_is_complete_and_keeps_pasted_text_as_written(qtbot, desk, tmp_path):
    # Before: a rewritten answer was exported with its original seed and none of its other versions, an answer
    # stopped early read as finished, and pasted text was written as live Markdown/HTML (an unclosed ``` turned
    # the rest of the transcript into code, "## Model (fake)" forged a turn, <img> in the title became an image);
    # a 300-character title proposed a file name the save dialog refused (Save stayed greyed out).
    stored_chat_to_export(desk)
    out = tmp_path / "chat.md"
    proposed = export_through_the_dialog(qtbot, desk, out)
    assert len(proposed) <= 83 and proposed.endswith(".md")
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# &lt;img src=x&gt; TTT")
    assert "```text\nBe **brief**.\n<b>always</b>\n```" in text
    assert "\n```text\nLook:" not in text  # the pasted fence is inside a longer one
    assert "````text\nLook:\n```python\nprint('<b>')\n\n## Model (fake)\n<script>x</script>\n````" in text
    assert headings_outside_fences(text) == [
        "## You", "## Model (model tiny-test, version 2 of 3, rewritten: “shorter”, seed 22)",
        "## You", "## Model (model tiny-test, seed 44, stopped before the end)"]
    assert "```text\nI thought </details> hard\n```" in text
    assert "The second answer." in text
    assert "**version 1 of 3, seed 11**\n\n```text\nThe first answer.\n```" in text
    assert "**version 3 of 3, rewritten: “longer”, seed 33**\n\n```text\nThe third answer.\n```" in text


def test_json_export_has_every_message_thought_version_and_the_system_prompt(qtbot, desk, tmp_path):
    # Before: a chat could only be exported as Markdown (no file a script could read back).
    import json

    from PySide6.QtWidgets import QComboBox

    stored_chat_to_export(desk)
    dialog = desk.controller.export_dialog()
    dialog.setDirectory(str(tmp_path))
    kinds = dialog.findChild(QComboBox, "fileTypeCombo")
    kinds.setFocus()
    qtbot.keyClick(kinds, Qt.Key.Key_Down)  # the user picks "JSON (*.json)" and keeps the proposed name
    assert kinds.currentText() == "JSON (*.json)"
    with qtbot.waitSignal(desk.controller.export_finished, timeout=10_000) as done:
        dialog.accept()
    out = tmp_path / done.args[0].rpartition("/")[2]
    assert out.suffix == ".json" and done.args[1] == ""
    dialog = desk.controller.export_dialog()
    dialog.setDirectory(str(tmp_path))
    kinds = dialog.findChild(QComboBox, "fileTypeCombo")
    kinds.setFocus()
    qtbot.keyClick(kinds, Qt.Key.Key_Down)
    with qtbot.waitSignal(desk.controller.export_finished, timeout=10_000) as typed:
        dialog.selectFile("typed without an ending")  # the name typed under "JSON (*.json)" gets .json
        dialog.accept()
    assert typed.args == [str(tmp_path / "typed without an ending.json"), ""]
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["format"] == "diffusion-desk-chat" and doc["system_prompt"] == "Be **brief**.\n<b>always</b>"
    assert [m["role"] for m in doc["messages"]] == ["user", "assistant", "user", "assistant"]
    answer = doc["messages"][1]
    assert answer["thinking"] == "I thought </details> hard" and answer["text"] == "The second answer."
    assert [(v["number"], v["seed"], v["instruction"], v["shown"]) for v in answer["versions"]] == [
        (1, 11, "", False), (2, 22, "shorter", True), (3, 33, "longer", False)]
    assert doc["messages"][3]["status"] == "cancelled" and doc["messages"][3]["versions"] == []


def start_long_answer(qtbot, desk, text: str) -> None:
    """Send `text` with settings that make a six-canvas answer; return once its first frame has arrived."""
    from PySide6.QtCore import Qt

    desk.controller.sampler = desk.controller.sampler.with_(max_new_tokens=64 * 6, max_denoising_steps=8)
    composer = desk.window.chat.composer
    composer.setPlainText(text)
    with qtbot.waitSignal(desk.worker.frame, timeout=60_000):
        qtbot.keyClick(composer, Qt.Key.Key_Return)


def test_deleting_the_chat_that_is_answering_leaves_nothing_of_it_on_the_canvas(qtbot, desk):
    # Before: after deleting the chat whose answer was running, the canvas's Live button brought that deleted
    # answer's frames back beside the chat that remained.
    kept = desk.controller.new_conversation()
    ask(qtbot, desk, "stays")
    canvas = desk.window.chat.canvas
    kept_frames = len(canvas.frames)
    doomed = desk.store.create_conversation("Doomed").id
    desk.controller.refresh_conversations()
    desk.controller.open_conversation(doomed)
    start_long_answer(qtbot, desk, "answer me at length")
    desk.controller.delete_conversation(doomed)
    assert desk.controller.conversation_id == kept and desk.controller.live is None
    canvas.live_button.click()
    qtbot.wait(200)  # the cancelled answer's last events arrive and are dropped
    assert len(canvas.frames) == kept_frames
    assert [m.text for m in desk.store.messages(kept)][0] == "stays"


def test_while_one_chat_answers_the_others_say_which_one_and_enter_says_why_nothing_was_sent(qtbot, desk):
    # Before: in another chat Send was greyed out and Enter did nothing, with no word of why; Stop (which ends
    # the other chat's answer) looked like it belonged to this chat; the list did not show which chat answered.
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QListWidget

    from app.chat.conversation_panel import ANSWERING_MARK

    other = desk.controller.new_conversation()
    ask(qtbot, desk, "an earlier question")
    busy = desk.store.create_conversation("Busy chat").id
    desk.controller.refresh_conversations()
    desk.controller.open_conversation(busy)
    start_long_answer(qtbot, desk, "answer me at length")
    desk.controller.open_conversation(other)
    listed = desk.window.findChild(QListWidget, "conversationList")
    texts = [listed.item(row).text() for row in range(listed.count())]
    assert f"{ANSWERING_MARK} Busy chat" in texts and "an earlier question" in texts
    page = desk.window.chat
    assert "“Busy chat” is still answering" in page.send_button.toolTip()
    assert "“Busy chat”" in page.stop_button.toolTip()
    page.composer.setPlainText("my next question")
    qtbot.keyClick(page.composer, Qt.Key.Key_Return)
    assert page.composer.toPlainText() == "my next question"
    assert "“Busy chat” is still answering" in desk.window.statusBar().currentMessage()
    with qtbot.waitSignal(desk.controller.answer_finished, timeout=60_000):
        pass
    texts = [listed.item(row).text() for row in range(listed.count())]
    assert "Busy chat" in texts and page.send_button.toolTip() == "Send (Enter)"


def test_rename_refuses_a_blank_title_and_caps_a_very_long_one(qtbot, desk):
    # Before: OK on a blank title closed the dialog and silently kept the old title; a pasted 5,000-character
    # title was taken whole.
    from PySide6.QtWidgets import QDialogButtonBox, QLineEdit, QPushButton

    from app.chat.conversation_panel import MAX_TITLE

    desk.controller.new_conversation()
    ask(qtbot, desk, "Keep my title")
    rename = desk.window.findChild(QPushButton, "renameChatButton")
    qtbot.mouseClick(rename, Qt.MouseButton.LeftButton)
    dialog = desk.window.findChild(QInputDialog, "renameChatDialog")
    assert dialog is not None and dialog.isVisible()
    field = dialog.findChild(QLineEdit)
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    field.selectAll()
    qtbot.keyClick(field, Qt.Key.Key_Delete)
    qtbot.keyClicks(field, "   ")
    assert not ok.isEnabled()
    field.selectAll()
    qtbot.keyClick(field, Qt.Key.Key_Delete)
    field.insert("<b>x</b>" + "L" * 5000)
    assert ok.isEnabled() and len(field.text()) == MAX_TITLE
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    title = desk.store.conversation(desk.controller.conversation_id).title
    assert title == ("<b>x</b>" + "L" * 5000)[:MAX_TITLE]


def test_edit_and_resend_says_how_many_later_turns_sending_deletes(qtbot, desk):
    # Before: "sending replaces it and every later turn" whether one answer or thirteen turns would go; in a
    # 14-turn chat one Enter deleted 27 messages without saying how many.
    from tests.app.helpers import click_link

    conv, _answers = long_chat(desk.store, "Long chat", turns=14)
    desk.controller.refresh_conversations()
    desk.controller.open_conversation(conv)
    questions = [m for m in desk.store.messages(conv) if m.role == "user"]
    click_link(view(desk), view(desk).action_href("edit", questions[1].id))
    label = desk.window.chat.edit_label
    assert label.isVisible()
    assert "deletes the 12 questions after it with their answers (26 messages in all, no undo)" in label.text()
    click_link(view(desk), view(desk).action_href("edit", questions[-1].id))
    assert label.text() == "Editing your last message — sending replaces it and its answer."


def test_f2_on_the_chat_list_renames_and_the_button_says_so(qtbot, desk):
    # Before: only the button and the right-click menu renamed; F2 (the usual key) did nothing, and the button had
    # no tooltip naming a key.
    from PySide6.QtWidgets import QListWidget, QPushButton

    desk.controller.new_conversation()
    ask(qtbot, desk, "Name me")
    listed = desk.window.findChild(QListWidget, "conversationList")
    desk.window.activateWindow()
    listed.setFocus()
    qtbot.waitUntil(listed.hasFocus)
    qtbot.keyClick(listed, Qt.Key.Key_F2)
    dialog = desk.window.findChild(QInputDialog, "renameChatDialog")
    assert dialog is not None and dialog.isVisible() and dialog.textValue() == "Name me"
    dialog.reject()
    assert "F2" in desk.window.findChild(QPushButton, "renameChatButton").toolTip()


def test_send_on_an_empty_box_says_what_to_do(qtbot, desk):
    # Before: Send (or Enter) with nothing typed did nothing and said nothing.
    desk.controller.new_conversation()
    desk.window.chat.composer.setPlainText("   \n")
    qtbot.mouseClick(desk.window.chat.send_button, Qt.MouseButton.LeftButton)
    assert "Type a message" in desk.window.statusBar().currentMessage()
    # ... and it is on screen: the speed line gives way while a message shows (it took the whole bar, so every
    # status message, "Exported to …" included, was hidden behind it), and comes back after.
    assert not desk.window.stats_label.isVisible()
    desk.window.statusBar().clearMessage()
    assert desk.window.stats_label.isVisible()
    assert desk.store.messages(desk.controller.conversation_id) == []


def test_edit_and_resend_of_the_second_to_last_question_speaks_of_one_question(qtbot, desk):
    from tests.app.helpers import click_link

    conv, _answers = long_chat(desk.store, "Short chat", turns=2)
    desk.controller.refresh_conversations()
    desk.controller.open_conversation(conv)
    first = next(m for m in desk.store.messages(conv) if m.role == "user")
    click_link(view(desk), view(desk).action_href("edit", first.id))
    label = desk.window.chat.edit_label.text()
    assert "deletes the question after it and its answer (4 messages in all, no undo)" in label


def test_dialogs_opened_all_day_leave_nothing_behind(qtbot, desk):
    # Before: every Settings, Export, Delete-chat and profile question stayed alive, hidden, after it closed (~26
    # widgets per Settings): an app kept open all day kept growing.
    from PySide6.QtCore import QCoreApplication, QEvent
    from PySide6.QtWidgets import QApplication

    from tests.app.real_dialogs import answer_dialog, click_button, message_box

    desk.controller.new_conversation()
    ask(qtbot, desk, "Hello")
    panel = desk.window.chat.conversations

    def one_round() -> int:
        desk.controller.open_settings().reject()
        desk.controller.export_dialog().reject()
        panel.rename_current().reject()
        seen: list = []
        answer_dialog(message_box("deleteChatDialog"), click_button("Cancel"), seen)
        panel.delete_current()
        assert seen
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
        return len(QApplication.allWidgets())

    counts = [one_round() for _ in range(3)]
    assert counts[0] == counts[1] == counts[2], counts
