"""Branching a chat: a new conversation holding a copy of another's messages up to one answer — each with its seed,
settings, stats, stored canvases (so Replay works in the branch) and rewritten versions — to take it elsewhere
without touching the original. One transaction: a branch is whole or not there."""

from __future__ import annotations

import sqlite3
import time

from .chats import ChatStore, Conversation

BRANCH_PREFIX = "Branch: "  # in front: the chat list cuts long titles at the end
CHILD_TABLES = ("canvas_frames", "message_versions", "version_frames")  # keyed by message_id


def _columns(c: sqlite3.Connection, table: str, *, leave_out: tuple[str, ...]) -> str:
    """The table's columns as the schema has them now (a later migration's columns are copied too), less some."""
    names = [row[1] for row in c.execute(f"PRAGMA table_info({table})")]
    return ", ".join(n for n in names if n not in leave_out)


def branch_conversation(store: ChatStore, message_id: int) -> Conversation:
    """A new conversation with the messages of `message_id`'s conversation up to and including it (the system
    prompt and Thinking too), titled "Branch: <title>". KeyError when the message does not exist; ValueError
    for an answer still being written (its text is not final)."""
    message = store.message(message_id)
    if message.status == "generating":
        raise ValueError("This answer is still being written: branch from it once it is done.")
    source = store.conversation(message.conversation_id)
    title = BRANCH_PREFIX + source.title
    now = time.time()
    with store._tx() as c:  # noqa: SLF001 - one connection per database file, shared by design
        new_id = int(c.execute(
            "INSERT INTO conversations (title, system_prompt, thinking, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
            (title, source.system_prompt, int(source.thinking), now, now),
        ).lastrowid)
        message_cols = _columns(c, "messages", leave_out=("id", "conversation_id"))
        child_cols = {table: _columns(c, table, leave_out=("id", "message_id")) for table in CHILD_TABLES}
        old_ids = [row[0] for row in c.execute(
            "SELECT id FROM messages WHERE conversation_id = ? AND position <= ? ORDER BY position",
            (source.id, message.position),
        )]
        for old in old_ids:
            new = int(c.execute(
                f"INSERT INTO messages (conversation_id, {message_cols}) SELECT ?, {message_cols} FROM messages "
                "WHERE id = ?", (new_id, old),
            ).lastrowid)
            for table, cols in child_cols.items():
                c.execute(f"INSERT INTO {table} (message_id, {cols}) SELECT ?, {cols} FROM {table} "
                          "WHERE message_id = ?", (new, old))
    return store.conversation(new_id)
