"""Branch from here: a new chat with the conversation up to one answer (seeds, canvases, rewritten versions, system
prompt, Thinking), opened to go on differently; the original chat is not touched."""

from __future__ import annotations

import pytest

from app.store.branch import branch_conversation
from app.store.chats import ChatStore
from app.store.versions import VersionStore
from tests.app.helpers import ask, click_link


def test_a_branch_copies_the_chat_up_to_the_answer_with_its_canvases_and_versions(tmp_path):
    store = ChatStore(tmp_path / "chats.sqlite3")
    try:
        conv = store.create_conversation(system_prompt="Be brief.", thinking=True)
        store.add_user_message(conv.id, "first question")
        first = store.start_assistant(conv.id, seed=7, settings={"seed": 7}, model="demo")
        store.save_canvas(first.id, "first answer", 0, b"frames-0", 5, 16)
        store.finish_assistant(first.id, text="first answer", thinking="a thought", stats={"reason": "eos"},
                               status="done")
        VersionStore(store).add(first.id, "first answer, rewritten", instruction="shorter", span=(0, 5), seed=9,
                                frames=[(0, 3, 16, b"rewrite-frames")])
        store.add_user_message(conv.id, "second question")
        second = store.start_assistant(conv.id, seed=8, settings={}, model="demo")
        store.finish_assistant(second.id, text="second answer", thinking="", stats=None, status="done")

        branch = branch_conversation(store, first.id)
        assert (branch.title, branch.system_prompt, branch.thinking) == ("Branch: first question", "Be brief.", True)
        user, answer = store.messages(branch.id)  # only up to the answer branched from
        assert (user.text, answer.text, answer.thinking, answer.seed, answer.settings, answer.stats) == (
            "first question", "first answer, rewritten", "a thought", 7, {"seed": 7}, {"reason": "eos"})
        assert answer.id != first.id
        stored = store.read("SELECT data FROM canvas_frames WHERE message_id = ?", (answer.id,))
        assert [bytes(r["data"]) for r in stored] == [b"frames-0"]  # Replay works in the branch
        versions = VersionStore(store)
        assert [v.text for v in versions.versions(answer.id)] == ["first answer", "first answer, rewritten"]
        assert versions.current(answer.id) == 2
        stored = store.read("SELECT data FROM version_frames WHERE message_id = ?", (answer.id,))
        assert [bytes(r["data"]) for r in stored] == [b"rewrite-frames"]

        assert [m.text for m in store.messages(conv.id)] == ["first question", "first answer, rewritten",
                                                           "second question", "second answer"]  # untouched
        store.delete_conversation(branch.id)  # and the branch is its own: deleting it leaves the original
        assert len(store.messages(conv.id)) == 4 and versions.current(first.id) == 2
    finally:
        store.close()


def test_no_branch_from_an_answer_still_being_written(tmp_path):
    store = ChatStore(tmp_path / "chats.sqlite3")
    try:
        conv = store.create_conversation()
        store.add_user_message(conv.id, "question")
        live = store.start_assistant(conv.id, seed=1, settings={}, model="demo")
        with pytest.raises(ValueError, match="still being written"):
            branch_conversation(store, live.id)
        assert len(store.conversations()) == 1  # nothing half made
    finally:
        store.close()


def test_branch_from_here_in_the_window_opens_the_branch_and_keeps_the_original(qtbot, desk):
    original = desk.controller.new_conversation()
    first = ask(qtbot, desk, "alpha question")
    ask(qtbot, desk, "beta question")
    view = desk.window.chat.messages
    click_link(view, view.action_href("branch", first))
    branch = desk.controller.conversation_id
    assert branch != original
    assert [m.text for m in desk.store.messages(branch) if m.role == "user"] == ["alpha question"]
    assert "Branched into a new chat" in desk.window.statusBar().currentMessage()
    assert desk.window.windowTitle() == "Branch: alpha question — Diffusion Desk"
    assert desk.window.chat.canvas.frames  # its answer's canvas replays in the branch

    ask(qtbot, desk, "gamma question")  # going on in the branch
    assert [m.text for m in desk.store.messages(original) if m.role == "user"] == ["alpha question",
                                                                                  "beta question"]
    assert [m.text for m in desk.store.messages(branch) if m.role == "user"] == ["alpha question", "gamma question"]
