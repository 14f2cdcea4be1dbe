"""The chat store: reopening, WAL, schema version and migrations, storage rules, frame replay."""

from __future__ import annotations

import sqlite3

import pytest

from app.canvas.frame_codec import decode_canvas, encode_canvas
from app.store.chats import ChatStore
from app.store.migrations import MIGRATIONS, SCHEMA_VERSION, NewerSchemaError
from engine.events import Frame


def _frames(canvas_index: int = 0, steps: int = 5, length: int = 16) -> list[Frame]:
    return [
        Frame(
            canvas_index,
            s,
            steps,
            [(7 * i + s) % 300000 for i in range(length)],
            [(3 * i) % 262143 for i in range(length)],
            [i < s * 3 for i in range(length)],
            [round(0.1 * i + 0.01 * s, 3) for i in range(length)],
            0.5 * s,
        )
        for s in range(1, steps + 1)
    ]


def test_store_survives_reopening(tmp_path):
    path = tmp_path / "chats.sqlite3"
    store = ChatStore(path)
    conv = store.create_conversation(system_prompt="Be brief.")
    store.add_user_message(conv.id, "Hello there")
    answer = store.start_assistant(conv.id, seed=42, settings={"max_denoising_steps": 4}, model="tiny")
    store.save_canvas(answer.id, "Hi", 0, encode_canvas(_frames()), 5, 16)
    store.finish_assistant(answer.id, text="Hi!", thinking="", stats={"tokens_per_second": 3.0}, status="done")
    store.close()

    store = ChatStore(path)
    (again,) = store.conversations()
    assert again.title == "Hello there" and again.system_prompt == "Be brief."
    user, reply = store.messages(conv.id)
    assert (user.role, user.text) == ("user", "Hello there")
    assert (reply.text, reply.seed, reply.status) == ("Hi!", 42, "done")
    assert reply.settings == {"max_denoising_steps": 4} and reply.stats == {"tokens_per_second": 3.0}
    assert store.canvas_frames(reply.id) == [_frames()]
    store.close()


def test_wal_and_schema_version(tmp_path):
    store = ChatStore(tmp_path / "c.sqlite3")
    store.close()
    conn = sqlite3.connect(tmp_path / "c.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_migrates_a_version_1_database(tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute("INSERT INTO conversations (title, created_at, updated_at) VALUES ('kept', 1, 1)")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    store = ChatStore(path)
    (conv,) = store.conversations()
    assert conv.title == "kept" and conv.thinking is False
    store.set_thinking(conv.id, True)
    assert store.conversation(conv.id).thinking is True
    store.close()


def test_newer_schema_is_refused_untouched(tmp_path):
    path = tmp_path / "new.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE future (x)")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(NewerSchemaError, match="Update Diffusion Desk"):
        ChatStore(path)
    assert path.read_bytes() == before


def test_interrupted_answer_keeps_committed_text(tmp_path):
    path = tmp_path / "c.sqlite3"
    store = ChatStore(path)
    conv = store.create_conversation()
    store.add_user_message(conv.id, "q")
    answer = store.start_assistant(conv.id, seed=1, settings={}, model="m")
    store.save_canvas(answer.id, "first canvas", 0, encode_canvas(_frames()), 5, 16)
    store.close()  # the app stops mid-answer
    store = ChatStore(path)
    reply = store.message(answer.id)
    assert (reply.text, reply.status) == ("first canvas", "interrupted")
    store.close()


def test_edit_replaces_later_turns_and_search(tmp_path):
    store = ChatStore(tmp_path / "c.sqlite3")
    conv = store.create_conversation()
    store.add_user_message(conv.id, "first question")
    a = store.start_assistant(conv.id, seed=1, settings={}, model="m")
    store.finish_assistant(a.id, text="answer about zebras", thinking="", stats=None, status="done")
    store.add_user_message(conv.id, "second")
    store.add_user_message(conv.id, "edited first", replace_from=0)
    assert [m.text for m in store.messages(conv.id)] == ["edited first"]
    other = store.create_conversation()
    store.rename_conversation(other.id, "Zebra facts")
    assert [c.id for c in store.conversations("zebra")] == [other.id]
    assert [c.id for c in store.conversations("EDITED")] == [conv.id]
    store.delete_conversation(other.id)
    assert [c.id for c in store.conversations()] == [conv.id]
    store.close()


def test_frame_codec_round_trip_with_large_vocab():
    frames = _frames(canvas_index=3, steps=7, length=256)
    blob = encode_canvas(frames)
    assert decode_canvas(blob, 3) == frames
    assert len(blob) < 7 * 256 * 13
