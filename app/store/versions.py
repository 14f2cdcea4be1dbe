"""Versions of an answer rewritten in place (issue 15, Rewrite selection): every version is kept in
`message_versions`; `messages.text` is always the current version's text (so the chat history the model reads,
search and export need no change) and `messages.current_version` says which one that is (0: never rewritten).

Shares the `ChatStore`'s connection; each write is one transaction.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from ..canvas.frame_codec import CanvasFrames, decode_canvas
from .chats import ChatStore

# (canvas index, steps, canvas length, packed frames) of one denoised canvas, as `frame_codec.encode_canvas` packs it
FrameBlob = tuple[int, int, int, bytes]


@dataclass(frozen=True)
class Version:
    """One version of an answer; version 1 is the original, later ones name the rewritten character span."""

    number: int
    text: str
    instruction: str = ""
    span: tuple[int, int] | None = None
    seed: int | None = None


class VersionStore:
    """Read and write an answer's versions on the chat store's connection."""

    def __init__(self, store: ChatStore) -> None:
        self.store = store

    @property
    def _conn(self) -> sqlite3.Connection:
        return self.store._conn  # noqa: SLF001 - one connection per database file, shared by design

    def versions(self, message_id: int) -> list[Version]:
        """Every version of an answer in order; one that was never rewritten has one: its text."""
        rows = self.store.read(
            "SELECT number, text, instruction, span_start, span_end, seed FROM message_versions "
            "WHERE message_id = ? ORDER BY number", (message_id,))
        if not rows:
            return [Version(1, self.store.message(message_id).text)]
        return [Version(r[0], r[1], r[2], (r[3], r[4]) if r[3] is not None else None, r[5]) for r in rows]

    def current(self, message_id: int) -> int:
        """The number of the version shown (1 for an answer never rewritten)."""
        row = self.store.read_one("SELECT current_version FROM messages WHERE id = ?", (message_id,))
        if row is None:
            raise KeyError(message_id)
        return max(1, int(row[0]))

    def counts(self, conversation_id: int) -> dict[int, tuple[int, int]]:
        """{message id: (current version, number of versions)} for the rewritten answers of a conversation."""
        rows = self.store.read(
            "SELECT m.id, m.current_version, COUNT(v.id) FROM messages m JOIN message_versions v "
            "ON v.message_id = m.id WHERE m.conversation_id = ? GROUP BY m.id", (conversation_id,))
        return {r[0]: (max(1, r[1]), r[2]) for r in rows}

    def shown_rewrites(self, conversation_id: int) -> dict[int, Version]:
        """{message id: the version shown} for the answers of a conversation that show a rewrite (version > 1)."""
        rows = self.store.read(
            "SELECT v.message_id, v.number, v.text, v.instruction, v.span_start, v.span_end, v.seed "
            "FROM messages m JOIN message_versions v ON v.message_id = m.id AND v.number = m.current_version "
            "WHERE m.conversation_id = ? AND m.current_version > 1", (conversation_id,))
        return {r[0]: Version(r[1], r[2], r[3], (r[4], r[5]) if r[4] is not None else None, r[6]) for r in rows}

    def add(self, message_id: int, text: str, *, instruction: str = "", span: tuple[int, int] | None = None,
            seed: int | None = None, frames: list[FrameBlob] = ()) -> int:
        """Keep `text` as a new version and make it the current one (the original becomes version 1 the first
        time), with the `frames` of the canvases its rewrite denoised; returns its number. Versions are only ever
        appended: rewriting from version 2 of 3 adds version 4."""
        now = time.time()
        with self.store._tx() as c:  # noqa: SLF001
            count = c.execute("SELECT COUNT(*) FROM message_versions WHERE message_id = ?", (message_id,)).fetchone()
            if count[0] == 0:
                original = c.execute("SELECT text, seed FROM messages WHERE id = ?", (message_id,)).fetchone()
                if original is None:
                    raise KeyError(message_id)
                c.execute("INSERT INTO message_versions (message_id, number, text, seed, created_at) "
                          "VALUES (?, 1, ?, ?, ?)", (message_id, original[0], original[1], now))
            number = int(c.execute("SELECT MAX(number) FROM message_versions WHERE message_id = ?",
                                   (message_id,)).fetchone()[0]) + 1
            start, end = span if span is not None else (None, None)
            c.execute("INSERT INTO message_versions (message_id, number, text, instruction, span_start, span_end, "
                      "seed, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      (message_id, number, text, instruction, start, end, seed, now))
            for index, steps, length, blob in frames:
                c.execute("INSERT INTO version_frames (message_id, number, canvas_index, steps, canvas_length, data) "
                          "VALUES (?, ?, ?, ?, ?, ?)", (message_id, number, index, steps, length, blob))
            c.execute("UPDATE messages SET text = ?, current_version = ?, updated_at = ? WHERE id = ?",
                      (text, number, now, message_id))
        return number

    def frames(self, message_id: int, number: int) -> list[CanvasFrames]:
        """The frames of version `number`'s rewrite, one list per canvas it denoised ([] for the original, whose
        frames are the answer's own, and for versions rewritten before frames were kept)."""
        rows = self.store.read("SELECT canvas_index, data FROM version_frames WHERE message_id = ? AND number = ? "
                               "ORDER BY canvas_index", (message_id, number))
        return [decode_canvas(r["data"], r["canvas_index"]) for r in rows]

    def select(self, message_id: int, number: int) -> str:
        """Show version `number` (undo, redo, ‹ ›): it becomes the answer's text; returns that text."""
        with self.store._tx() as c:  # noqa: SLF001
            row = c.execute("SELECT text FROM message_versions WHERE message_id = ? AND number = ?",
                            (message_id, number)).fetchone()
            if row is None:
                raise KeyError((message_id, number))
            c.execute("UPDATE messages SET text = ?, current_version = ?, updated_at = ? WHERE id = ?",
                      (row[0], number, time.time(), message_id))
        return str(row[0])
