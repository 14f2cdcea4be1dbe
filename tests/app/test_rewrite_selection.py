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


def _bubble_text(view: MessageView, message_index: int) -> str:
    bubble = view.document().rootFrame().childFrames()[message_index]
    cursor = QTextCursor(view.document())
    cursor.setPosition(bubble.firstPosition())
    cursor.setPosition(bubble.lastPosition(), QTextCursor.MoveMode.KeepAnchor)
    return cursor.selectedText()


def _middle_span(view: MessageView, text: str) -> tuple[int, int]:
    """A span in the middle third of `text` that the bubble shows verbatim, once (Markdown may hide characters)."""
    shown = _bubble_text(view, 1)
    for size in (len(text) // 3, 12, 8, 5):
        for start in range(len(text) // 3, max(len(text) // 3 + 1, len(text) - size)):
            piece = text[start:start + size]
            if size and piece.strip() == piece and text.count(piece) == 1 and shown.count(piece) == 1:
                return start, start + size
    raise AssertionError(f"no plainly shown span in {text!r}")


def _rewrite_until_changed(qtbot, desk, answer_id: int, tries: int, span: tuple[int, int] | None = None
                           ) -> tuple[str, str, int, int, list[str]]:
    """Select the middle of the answer and rewrite it from the context menu ("shorter") until the text changes (a
    model may write the same words back: then no version is added). Returns (original, new, start, end, the live
    bubble texts seen)."""
    view = desk.window.chat.messages
    original = desk.store.message(answer_id).text
    start, end = span or _middle_span(view, original)
    live: list[str] = []
    desk.worker.frame.connect(lambda *_: live.append(view.live_text()))
    new_text = original
    for _ in range(tries):
        _select(view, 1, start, end, original)
        span = view.selection_span()
        assert (span.message_id, span.start, span.end) == (answer_id, start, end)
        dialog = _rewrite_from_menu(qtbot, desk, "shorter")
        assert dialog.findChild(QLabel, "rewriteSelectedText").text() == original[start:end]
        steps = desk.controller.sampler.max_denoising_steps
        assert f"up to {steps} denoising steps" in dialog.findChild(QLabel, "rewriteSettingsNote").text()
        with qtbot.waitSignal(desk.rewrite.rewrite_finished, timeout=TIMEOUT_MS) as finished:
            qtbot.mouseClick(dialog.findChild(QPushButton, "rewriteButton"), Qt.MouseButton.LeftButton)
            assert desk.window.chat.stop_button.isEnabled() and not desk.window.chat.send_button.isEnabled()
        assert finished.args[1] in ("done", "unchanged")
        new_text = desk.store.message(answer_id).text
        if new_text != original:
            break
        assert VersionStore(desk.store).versions(answer_id)[-1].number == 1  # unchanged: no version
    return original, new_text, start, end, live


def _check_versions_and_restart(qtbot, desk, answer_id, original, new_text, start, end, live, reopen) -> None:
    assert new_text.startswith(original[:start]) and new_text.endswith(original[end:])  # the rest stays put
    def squeezed(text: str) -> str:  # the bubble is HTML: runs of spaces show as one
        return " ".join(text.split())

    before, after = squeezed(original[:start]), squeezed(original[end:])
    bad = [t for t in live if not (squeezed(t).startswith(before) and squeezed(t).endswith(after))]
    assert live and not bad, (original, start, end, bad)
    assert desk.window.chat.canvas.frames  # the span re-denoised on the canvas too
    view = desk.window.chat.messages
    versions = VersionStore(desk.store)
    assert [v.text for v in versions.versions(answer_id)] == [original, new_text]
    kept = versions.versions(answer_id)[1]
    assert (kept.instruction, kept.span) == ("shorter", (start, end))
    assert "2/2" in view.plain_text()
    seed = desk.store.message(answer_id).seed
    assert f"rewritten: “shorter” · seed {kept.seed}" in view.plain_text()  # the rewrite's own, not v1's
    rewrite_frames = list(desk.window.chat.canvas.frames)

    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo
    assert desk.store.message(answer_id).text == original and "1/2" in view.plain_text()
    assert f"seed {seed}" in view.plain_text() and "rewritten" not in view.plain_text()
    original_frames = [f.draft for canvas in desk.store.canvas_frames(answer_id) for f in canvas]
    shown = [f.draft for f in desk.window.chat.canvas.frames]
    assert shown[-1:] == original_frames[-1:] and shown != [f.draft for f in rewrite_frames]  # the canvas follows
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert desk.store.message(answer_id).text == new_text and "2/2" in view.plain_text()
    click_link(view, view.action_href("version-prev", answer_id))  # the ‹ link
    assert desk.store.message(answer_id).text == original
    assert view.action_href("version-prev", answer_id) is None  # no ‹ before version 1
    desk.window.close()

    desk = reopen()  # restart on the same data folder
    try:
        view = desk.window.chat.messages
        versions = VersionStore(desk.store)
        assert [v.text for v in versions.versions(answer_id)] == [original, new_text]
        assert versions.current(answer_id) == 1 and "1/2" in view.plain_text()
        click_link(view, view.action_href("version-next", answer_id))  # ›
        assert desk.store.message(answer_id).text == new_text
        # the next question reads the version shown
        assert desk.controller._chat_messages(desk.controller.conversation_id)[-1]["content"] == new_text
        # Replay canvas shows how the version shown was denoised: the rewrite's own frames, kept with it
        kept_frames = versions.frames(answer_id, 2)
        assert kept_frames and all(kept_frames)
        click_link(view, view.action_href("replay", answer_id))
        canvas = desk.window.chat.canvas
        assert [f.step for f in canvas.frames][-1] == kept_frames[-1][-1].step
        assert canvas.frames[-1].draft == kept_frames[-1][-1].draft
    finally:
        desk.window.close()


# v2 of the demo model knows its answers by heart: a span of its own answer comes back unchanged (even sampled at
# t 4-8). What a user rewrites is a wrong word, so the chat is one stored earlier (as by v1) with one word off-sheet.
WRONG_ANSWER = "Chats are stored in chats.sqlite3 in the app's zzzz folder, only on your machine."


def _stored_chat(store_path, settings: dict) -> tuple[int, int]:
    """A conversation saved before the window opens: its question and an answer with a wrong word."""
    from app.store.chats import ChatStore

    store = ChatStore(store_path)
    try:
        conv = store.create_conversation("Where are my chats?")
        store.add_user_message(conv.id, "Where are my chats?")
        answer = store.start_assistant(conv.id, seed=1, settings=settings, model="demo")
        store.finish_assistant(answer.id, text=WRONG_ANSWER, thinking="", stats=None, status="done")
        return conv.id, answer.id
    finally:
        store.close()


@needs_demo
def test_rewrite_with_the_demo_model_changes_only_the_selection_and_keeps_versions(qtbot, demo_em, tmp_path):  # noqa: F811
    store_path = tmp_path / "chats.sqlite3"
    desk = open_demo_desktop(qtbot, demo_em, store_path)
    desk.window.close()
    conv_id, answer_id = _stored_chat(store_path, desk.controller.sampler.as_dict())
    desk = open_demo_desktop(qtbot, demo_em, store_path)
    try:
        desk.controller.open_conversation(conv_id)
        start = WRONG_ANSWER.index("zzzz")
        original, new_text, start, end, live = _rewrite_until_changed(qtbot, desk, answer_id, tries=3,
                                                                      span=(start, start + 4))
        assert new_text != original and "zzzz" not in new_text
        _check_versions_and_restart(qtbot, desk, answer_id, original, new_text, start, end, live,
                                    lambda: _reopen(qtbot, demo_em, store_path, conv_id))
    finally:
        desk.window.close()


def _reopen(qtbot, em, store_path, conv_id):
    desk = open_demo_desktop(qtbot, em, store_path)
    desk.controller.open_conversation(conv_id)
    return desk


def test_rewrite_versions_undo_redo_and_restart(qtbot, chat_em, tmp_path):
    from tests.app.helpers import open_desktop

    store_path = tmp_path / "chats.sqlite3"
    desk = open_desktop(qtbot, chat_em, store_path, max_new_tokens=48)  # random weights: a rewrite always differs
    try:
        answer_id = ask(qtbot, desk, "Rewrite part of this answer")
        original, new_text, start, end, live = _rewrite_until_changed(qtbot, desk, answer_id, tries=2)
        assert new_text != original
        _check_versions_and_restart(qtbot, desk, answer_id, original, new_text, start, end, live,
                                    lambda: open_desktop(qtbot, chat_em, store_path, max_new_tokens=48))
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
        button = view.findChild(QPushButton, "rewriteSelectionButton")  # floats under the selection
        qtbot.waitUntil(button.isVisible, timeout=5_000)
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        dialog = desk.rewrite.dialog
        assert isinstance(dialog, RewriteDialog)
        qtbot.waitUntil(dialog.isVisible, timeout=5_000)
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
        assert not view.findChild(QPushButton, "rewriteSelectionButton").isVisible()
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


@needs_demo
def test_rewrite_in_a_thinking_chat_reads_the_answers_thought_and_keeps_it(qtbot, demo_em, tmp_path):  # noqa: F811
    """A Thinking chat: the span is conditioned on the thought the answer was written after, and the rewritten
    answer keeps its thought (the "Thought" fold stays)."""
    from app.store.chats import ChatStore

    store_path = tmp_path / "chats.sqlite3"
    store = ChatStore(store_path)
    try:
        conv = store.create_conversation("Where are my chats?", thinking=True)
        store.add_user_message(conv.id, "Where are my chats?")
        answer = store.start_assistant(conv.id, seed=1, settings=None, model="demo")
        store.finish_assistant(answer.id, text=WRONG_ANSWER, thinking="They asked where chats live.", stats=None,
                               status="done")
    finally:
        store.close()
    desk = open_demo_desktop(qtbot, demo_em, store_path)
    requests = []
    desk.worker._rewrite_requested.connect(lambda request, _cancel: requests.append(request))  # noqa: SLF001
    try:
        desk.controller.open_conversation(conv.id)
        assert desk.window.chat.thinking.isChecked()
        desk.controller.sampler = desk.controller.sampler.with_(max_denoising_steps=7)  # Settings changed since
        start = WRONG_ANSWER.index("zzzz")
        _rewrite_until_changed(qtbot, desk, answer.id, tries=1, span=(start, start + 4))
        assert requests and requests[0].enable_thinking and requests[0].thought == "They asked where chats live."
        assert requests[0].settings.max_denoising_steps == 7  # the current Settings, as Regenerate uses
        assert desk.store.message(answer.id).thinking == "They asked where chats live."
        assert "Thought" in desk.window.chat.messages.plain_text()
    finally:
        desk.window.close()
