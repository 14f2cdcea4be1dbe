"""kill -9 during generation (short version of `python -m tests.reliability.kill_trials --trials 50`)."""

from __future__ import annotations

import sqlite3

from app.store.chats import ChatStore
from tests.reliability.kill_trials import check, run_self_test_trials, run_trials, snapshot


def test_ten_kills_during_generation_lose_nothing_committed(tmp_path):
    stats = run_trials(10, tmp_path, seed=7)
    assert stats.trials == 10
    assert stats.failures == []
    assert stats.killed_generating >= 1 and stats.messages_checked > 0


def test_the_real_self_test_killed_mid_answer_leaves_a_sound_database(tmp_path):
    stats = run_self_test_trials(2, tmp_path, seed=3)
    assert stats.trials == 2 and stats.failures == []


def test_the_checker_notices_lost_and_changed_messages(tmp_path):
    db = tmp_path / "chats.sqlite3"
    store = ChatStore(db)
    conv = store.create_conversation()
    user = store.add_user_message(conv.id, "keep me")
    answer = store.start_assistant(conv.id, seed=1, settings={}, model="m")
    store.save_canvas(answer.id, "first canvas", 0, b"frames", 1, 4)
    store.close()
    before = snapshot(db)
    assert check(db, before) == []
    conn = sqlite3.connect(db)
    conn.execute("UPDATE messages SET text = 'first' WHERE id = ?", (answer.id,))
    conn.execute("UPDATE canvas_frames SET data = X'00' WHERE message_id = ?", (answer.id,))
    conn.execute("DELETE FROM messages WHERE id = ?", (user.id,))
    conn.commit()
    conn.close()
    problems = " ".join(check(db, before))
    assert f"message {user.id}" in problems and "lost committed text" in problems and "canvases lost" in problems
