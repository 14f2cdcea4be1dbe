"""Unsent text belongs to its chat: switching chats, Edit & resend, deleting another chat and a restart lose none of
it (the `drafts` table of the chat store)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from app.store.chats import ChatStore
from tests.app.helpers import ask, open_desktop


def box(desk) -> str:
    return desk.window.chat.composer.toPlainText()


def editing_with_a_draft(qtbot, desk, draft: str) -> tuple[int, int]:
    """A chat with one answered question, `draft` typed in the box, then Edit & resend on that question; returns
    (chat, question id)."""
    chat = desk.controller.new_conversation()
    ask(qtbot, desk, "original question")
    question = next(m.id for m in desk.store.messages(chat) if m.role == "user")
    type_into(qtbot, desk, draft)
    desk.controller.edit_message(question)
    return chat, question


def type_into(qtbot, desk, text: str) -> None:
    """Typed as a user would (key events), so the draft keeper sees real typing."""
    composer = desk.window.chat.composer
    composer.setFocus()
    qtbot.keyClicks(composer, text)


def test_store_keeps_one_draft_per_chat_and_forgets_blank_ones(tmp_path):
    store = ChatStore(tmp_path / "chats.sqlite3")
    try:
        a = store.create_conversation().id
        b = store.create_conversation().id
        store.set_draft(a, "half a question")
        store.set_draft(a, "half a question, now longer")
        store.set_draft(b, "other")
        assert (store.draft(a), store.draft(b)) == ("half a question, now longer", "other")
        store.set_draft(b, "   ")
        assert store.draft(b) == ""
        store.delete_conversation(a)
        assert store.draft(a) == ""  # it went with its chat
        store.set_draft(a, "to a deleted chat")  # ignored, not an error
        assert store.draft(a) == ""
        assert store.unused_conversation() is not None  # a draft does not make a chat "used"
    finally:
        store.close()


def test_switching_chats_keeps_each_chats_unsent_text(qtbot, desk):
    first = desk.controller.new_conversation()
    ask(qtbot, desk, "first chat question")
    type_into(qtbot, desk, "a follow-up I am still writing")
    second = desk.controller.new_conversation()
    assert box(desk) == ""  # a new chat starts with an empty box
    type_into(qtbot, desk, "for the second chat")
    listed = desk.window.chat.conversations.list
    assert [listed.item(r).text() for r in range(listed.count())] == ["New chat", "✎ first chat question"]
    assert "unsent text" in listed.item(1).toolTip()  # found from the list, not only by opening each chat
    desk.controller.open_conversation(first)
    assert box(desk) == "a follow-up I am still writing"
    assert [listed.item(r).text() for r in range(listed.count())] == ["✎ New chat", "first chat question"]
    desk.controller.open_conversation(second)
    assert box(desk) == "for the second chat"
    assert desk.store.draft(first) == "a follow-up I am still writing"


def test_the_draft_is_saved_a_moment_after_typing_stops(qtbot, desk):
    chat = desk.controller.new_conversation()
    type_into(qtbot, desk, "kept even if the app is killed")
    qtbot.waitUntil(lambda: desk.store.draft(chat) == "kept even if the app is killed", timeout=5_000)
    desk.window.chat.composer.clear()
    qtbot.waitUntil(lambda: desk.store.draft(chat) == "", timeout=5_000)


def test_sending_clears_the_draft(qtbot, desk):
    chat = desk.controller.new_conversation()
    type_into(qtbot, desk, "send me")
    with qtbot.waitSignal(desk.controller.answer_finished, timeout=60_000):
        qtbot.keyClick(desk.window.chat.composer, Qt.Key.Key_Return)
    desk.controller.drafts.save()
    assert box(desk) == "" and desk.store.draft(chat) == ""


def test_edit_and_resend_puts_the_draft_aside_and_gives_it_back(qtbot, desk):
    chat, question = editing_with_a_draft(qtbot, desk, "my next question, half written")
    assert box(desk) == "original question"
    desk.controller.open_conversation(chat)  # (same chat: nothing changes)
    desk.window.findChild(QPushButton, "cancelEditButton").click()
    assert box(desk) == "my next question, half written"  # Cancel edit: the draft is back

    desk.controller.edit_message(question)
    desk.window.chat.composer.setPlainText("edited question")
    with qtbot.waitSignal(desk.controller.answer_finished, timeout=60_000):
        qtbot.keyClick(desk.window.chat.composer, Qt.Key.Key_Return)
    assert box(desk) == "my next question, half written"  # the edit was sent; the draft is back in the box
    assert [m.text for m in desk.store.messages(chat) if m.role == "user"] == ["edited question"]


def test_switching_chats_while_editing_keeps_the_draft_not_the_edit(qtbot, desk):
    chat, _question = editing_with_a_draft(qtbot, desk, "draft before the edit")
    other = desk.store.create_conversation("Other").id
    desk.controller.open_conversation(other)
    assert box(desk) == ""
    assert not desk.window.chat.edit_label.isVisible()
    desk.controller.open_conversation(chat)
    assert box(desk) == "draft before the edit"


def test_deleting_the_open_chat_keeps_the_box_text_for_the_next_one(qtbot, desk):
    keep = desk.controller.new_conversation()
    ask(qtbot, desk, "keep this chat")
    doomed = desk.store.create_conversation("Doomed").id
    desk.controller.open_conversation(doomed)
    type_into(qtbot, desk, "text typed before deleting")
    desk.controller.delete_conversation(doomed)
    assert desk.controller.conversation_id == keep
    assert box(desk) == "text typed before deleting"  # nothing typed is lost by the delete


def test_a_restart_brings_the_draft_back(qtbot, chat_em, tmp_path):
    path = tmp_path / "chats.sqlite3"
    desk = open_desktop(qtbot, chat_em, path)
    desk.controller.new_conversation()
    type_into(qtbot, desk, "typed just before quitting")
    desk.window.close()  # at once: no pause for the timer
    again = open_desktop(qtbot, chat_em, path)
    try:
        assert box(again) == "typed just before quitting"
    finally:
        again.window.close()
