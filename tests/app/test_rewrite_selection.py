"""Rewrite selection (issue 15) in the real window with the demo model: select words in an answer → the context
menu's "Rewrite selection…" → the real dialog → only the selected characters change (live and stored); the answer
keeps every version (‹ k/n ›, Ctrl+Z / Ctrl+Shift+Z); a restart keeps them; Stop keeps the original."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QTextCursor
from PySide6.QtWidgets import QLabel, QPushButton

from app.chat.message_view import MessageView
from app.chat.rewrite_dialog import RewriteDialog
from app.store.versions import VersionStore
from tests.app.demo_desk import demo_em, needs_demo, open_demo_desktop  # noqa: F401 - demo_em is a fixture
from tests.app.helpers import ask, click_link

QUESTION = "Sort: pear, apple, fig, kiwi, banana"  # the demo model's sorting is loose: a rewrite can differ
TIMEOUT_MS = 120_000


def _select(view: MessageView, message_index: int, start: int, end: int, text: str) -> None:
    """Select `text[start:end]` inside the bubble of message `message_index`, as a mouse drag would."""
    bubble = view.document().rootFrame().childFrames()[message_index]
    found = view.document().find(text[start:end], bubble.firstPosition())
    assert not found.isNull() and found.selectionEnd() <= bubble.lastPosition()
    view.setTextCursor(found)


def _rewrite_from_menu(qtbot, desk, instruction: str) -> RewriteDialog:
    """The context menu's "Rewrite selection…", then the dialog with `instruction`; returns the open dialog."""
    view = desk.window.chat.messages
    menu = view.build_context_menu()
    action = menu.findChild(QAction, "rewriteSelectionAction")
    assert action is not None and action.isEnabled()
    action.trigger()
    menu.close()
    dialog = desk.rewrite.dialog
    assert isinstance(dialog, RewriteDialog)
    qtbot.waitUntil(dialog.isVisible, timeout=5_000)
    dialog.instruction_box.setEditText(instruction)
    return dialog


@needs_demo
def test_rewrite_changes_only_the_selection_keeps_versions_undo_redo_restart(qtbot, demo_em, tmp_path):  # noqa: F811
    store_path = tmp_path / "chats.sqlite3"
    desk = open_demo_desktop(qtbot, demo_em, store_path)
    try:
        answer_id = ask(qtbot, desk, QUESTION)
        original = desk.store.message(answer_id).text
        assert len(original) >= 6, original
        view = desk.window.chat.messages
        start, end = len(original) // 3, 2 * len(original) // 3
        live: list[str] = []
        desk.worker.frame.connect(lambda *_: live.append(view.live_text()))
        new_text, tries = original, 0
        while new_text == original and tries < 4:  # a rewrite may come out the same: then no version is added
            tries += 1
            _select(view, 1, start, end, original)
            span = view.selection_span()
            assert (span.message_id, span.start, span.end) == (answer_id, start, end)
            dialog = _rewrite_from_menu(qtbot, desk, "shorter")
            assert dialog.findChild(QLabel, "rewriteSelectedText").text() == original[start:end]
            with qtbot.waitSignal(desk.rewrite.rewrite_finished, timeout=TIMEOUT_MS) as finished:
                qtbot.mouseClick(dialog.findChild(QPushButton, "rewriteButton"), Qt.MouseButton.LeftButton)
                assert desk.window.chat.stop_button.isEnabled() and not desk.window.chat.send_button.isEnabled()
            assert finished.args[1] in ("done", "unchanged")
            new_text = desk.store.message(answer_id).text
        assert new_text != original, "four rewrites of the demo model's sorting all came out unchanged"
        assert new_text.startswith(original[:start]) and new_text.endswith(original[end:])  # the rest stays put
        assert live and all(t.startswith(original[:start]) and t.endswith(original[end:]) for t in live), live
        assert desk.window.chat.canvas.frames  # the span re-denoised on the canvas too
        versions = VersionStore(desk.store)
        assert [v.text for v in versions.versions(answer_id)] == [original, new_text]
        kept = versions.versions(answer_id)[1]
        assert (kept.instruction, kept.span) == ("shorter", (start, end))
        assert "2/2" in view.plain_text() and new_text in view.plain_text()

        view.setFocus()
        qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo
        assert desk.store.message(answer_id).text == original and "1/2" in view.plain_text()
        qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
        assert desk.store.message(answer_id).text == new_text and "2/2" in view.plain_text()
        click_link(view, view.action_href("version-prev", answer_id))  # the ‹ link
        assert desk.store.message(answer_id).text == original
        assert view.action_href("version-prev", answer_id) is None  # no ‹ before version 1
    finally:
        desk.window.close()

    desk = open_demo_desktop(qtbot, demo_em, store_path)  # restart on the same data folder
    try:
        view = desk.window.chat.messages
        versions = VersionStore(desk.store)
        assert [v.text for v in versions.versions(answer_id)] == [original, new_text]
        assert versions.current(answer_id) == 1 and "1/2" in view.plain_text()
        click_link(view, view.action_href("version-next", answer_id))  # ›
        assert desk.store.message(answer_id).text == new_text and new_text in view.plain_text()
        # the next question reads the version shown
        assert desk.controller._chat_messages(desk.controller.conversation_id)[-1]["content"] == new_text
    finally:
        desk.window.close()


@needs_demo
def test_stop_mid_rewrite_keeps_the_original(qtbot, demo_em, tmp_path):  # noqa: F811
    desk = open_demo_desktop(qtbot, demo_em, tmp_path / "chats.sqlite3")
    try:
        answer_id = ask(qtbot, desk, QUESTION)
        original = desk.store.message(answer_id).text
        view = desk.window.chat.messages
        _select(view, 1, 2, len(original) - 2, original)
        dialog = _rewrite_from_menu(qtbot, desk, "")
        stop = desk.window.chat.stop_button
        with qtbot.waitSignal(desk.rewrite.rewrite_finished, timeout=TIMEOUT_MS) as finished:
            dialog.findChild(QPushButton, "rewriteButton").click()
            assert stop.isEnabled()
            stop.click()  # before the first step is over: the engine stops between two steps
        assert finished.args == [answer_id, "cancelled"]
        assert desk.store.message(answer_id).text == original
        assert [v.text for v in VersionStore(desk.store).versions(answer_id)] == [original]
        assert original in view.plain_text() and "1/" not in view.plain_text()
        assert "unchanged" in desk.window.chat.banner.text()
        assert desk.window.chat.send_button.isEnabled() and not stop.isEnabled()
    finally:
        desk.window.close()


def test_selection_outside_an_answer_offers_no_rewrite(qtbot, chat_em, tmp_path):
    from tests.app.helpers import open_desktop

    desk = open_desktop(qtbot, chat_em, tmp_path / "c.sqlite3")
    try:
        ask(qtbot, desk, "question text here")
        view = desk.window.chat.messages
        _select(view, 0, 0, 8, "question text here")  # inside the question's bubble
        assert view.selection_span() is None
        cursor = view.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.Start)
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)  # across bubbles
        view.setTextCursor(cursor)
        assert view.selection_span() is None
        menu = view.build_context_menu()
        assert not menu.findChild(QAction, "rewriteSelectionAction").isEnabled()
        menu.close()
    finally:
        desk.window.close()
