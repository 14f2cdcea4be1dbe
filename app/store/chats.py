"""The chat store: conversations, messages and replay frames in SQLite (`<data>/chats.sqlite3`, WAL).

Storage rules (../shared/ARCHITECTURE.md): a user message is committed before generation starts; an
answer is written at canvas boundaries and at the end, never per frame; every write is one transaction.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.events import Frame

from ..canvas.frame_codec import decode_canvas
from .migrations import APPLICATION_ID, ForeignDatabaseError, NewerSchemaError, check_ours, migrate

__all__ = [
    "ChatStore", "Conversation", "ForeignDatabaseError", "Message", "NewerSchemaError", "StoreOpenError",
    "StoreWriteError",
]

# How long a statement waits for another program's lock. The store runs on the GUI thread, so it must not wait
# long: a locked database is a quick, clear error (a banner, the text kept) instead of a frozen window.
BUSY_TIMEOUT_S = 0.2


def _in_use(path: Path) -> str:
    return (f"the chat database {path} is in use by another program (or another Diffusion Desk). "
            "Close it, then try again")


NEW_CHAT_TITLE = "New chat"  # an untitled chat's title: its first message names it


def title_from(text: str) -> str:
    """A chat's title from its first question: the words on one line, at most 60 characters."""
    return " ".join(text.split())[:60] or NEW_CHAT_TITLE


class StoreOpenError(RuntimeError):
    """The chat database cannot be opened; the message says why and what to do. The file was not changed."""


class StoreUnavailableError(RuntimeError):
    """The chat database cannot be read or written right now; the message says why and what to do. Nothing the
    user had is lost: the window shows it in a banner (the crash reporter routes any that no caller handled
    there too) instead of a crash dialog."""


# What SQLite says → what the user reads, for a failed write and a failed read ({path}, {exc}, {in_use} filled in).
# "locking protocol": SQLite gave up after ~10 s of retries because another process holds every WAL read lock (a
# hung or hostile program); the store runs on the GUI thread, so the window stalled that long.
_WRITE_MESSAGES = (
    (("locked", "busy", "locking protocol"), "Could not save: {in_use}."),
    (("full",), "Could not save to {path}: the disk is full. Free some space; nothing was lost yet."),
    (("readonly", "read-only"), "Could not save to {path}: the file or its folder is read-only."),
    (("disk i/o", "unable to open"), "Could not save to {path}: the disk reported an error ({exc})."),
)
_READ_MESSAGES = (
    (("locked", "busy", "locking protocol"), "Could not read your chats: {in_use}. Nothing was changed."),
    (("disk i/o", "unable to open"), "Could not read your chats from {path}: the disk reported an error ({exc})."),
)


def _user_error(cls: type[Exception], messages: tuple, exc: sqlite3.OperationalError, path: Path) -> Exception:
    """`cls` with the first message whose words appear in SQLite's; other operational errors unchanged."""
    reason = str(exc).lower()
    for words, message in messages:
        if any(word in reason for word in words):
            return cls(message.format(path=path, exc=exc, in_use=_in_use(path)))
    return exc


class StoreWriteError(StoreUnavailableError):
    """A write did not happen (disk full, read-only or unreachable file); the transaction was rolled back whole."""

    @classmethod
    def from_sqlite(cls, exc: sqlite3.OperationalError, path: Path) -> Exception:
        """A user-facing error for a failed write; other operational errors are returned unchanged."""
        return _user_error(cls, _WRITE_MESSAGES, exc, path)


class StoreReadError(StoreUnavailableError):
    """A read did not happen: another program holds the database exclusively, or the disk reported an error."""

    @classmethod
    def from_sqlite(cls, exc: sqlite3.OperationalError, path: Path) -> Exception:
        """A user-facing error for a failed read; other operational errors are returned unchanged."""
        return _user_error(cls, _READ_MESSAGES, exc, path)


@dataclass(frozen=True)
class Conversation:
    """One conversation row."""

    id: int
    title: str
    system_prompt: str
    thinking: bool
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class Message:
    """One message row; an answer carries its seed, settings and stats."""

    id: int
    conversation_id: int
    position: int
    role: str
    text: str
    thinking: str
    seed: int | None
    settings: dict[str, Any] | None
    stats: dict[str, Any] | None
    model: str
    status: str
    created_at: float


def _message(row: sqlite3.Row) -> Message:
    return Message(
        id=row["id"],
        conversation_id=row["conversation_id"],
        position=row["position"],
        role=row["role"],
        text=row["text"],
        thinking=row["thinking"],
        seed=row["seed"],
        settings=json.loads(row["settings_json"]) if row["settings_json"] else None,
        stats=json.loads(row["stats_json"]) if row["stats_json"] else None,
        model=row["model"],
        status=row["status"],
        created_at=row["created_at"],
    )


def _conversation(row: sqlite3.Row) -> Conversation:
    return Conversation(
        row["id"], row["title"], row["system_prompt"], bool(row["thinking"]), row["created_at"], row["updated_at"]
    )


class ChatStore:
    """All chat persistence. Used from the GUI thread only; each public write is one transaction."""

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            from engine.paths import chats_db_path

            path = chats_db_path()
        self.path = Path(path)
        self._check_path()
        if self.path.exists():
            self._inspect()  # read-only: another program's file, or a newer schema, is refused before any write
        try:
            self._conn = sqlite3.connect(str(self.path), isolation_level=None, timeout=BUSY_TIMEOUT_S)
        except sqlite3.Error as exc:
            raise self._open_error(exc) from exc
        self._conn.row_factory = sqlite3.Row
        try:
            check_ours(self._conn, str(self.path))  # before WAL, which rewrites the file header
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            migrate(self._conn, str(self.path))
            if self._conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
                self._conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            # An answer that was still generating when the app stopped keeps its committed canvases.
            self._conn.execute("UPDATE messages SET status = 'interrupted' WHERE status = 'generating'")
        except sqlite3.Error as exc:
            self._conn.close()
            raise self._open_error(exc) from exc
        except BaseException:
            self._conn.close()
            raise

    def _check_path(self) -> None:
        """The database path must be a file (or nothing yet) in a folder that exists or can be made."""
        path = self.path
        if path.is_symlink() and not path.exists():
            raise StoreOpenError(f"The chat database {path} is a link to {os.readlink(path)}, which does not "
                                 "exist. Remove the link or restore its target, then start Diffusion Desk again.")
        if path.is_dir():
            raise StoreOpenError(f"The chat database {path} is a folder, not a file. Move it aside (Diffusion Desk "
                                 "then starts with an empty history), then start Diffusion Desk again.")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreOpenError(f"The folder for the chat database, {path.parent}, cannot be created "
                                 f"({exc.strerror or exc}). Check that it is writable.") from exc

    def _inspect(self) -> None:
        """Look at an existing file through a read-only connection; raise when it must not be opened for writing."""
        uri = self.path.absolute().as_uri() + "?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S)
        except sqlite3.Error as exc:
            raise self._open_error(exc) from exc
        try:
            check_ours(conn, str(self.path))
        except sqlite3.Error as exc:
            raise self._open_error(exc) from exc
        finally:
            conn.close()

    def _open_error(self, exc: sqlite3.Error) -> Exception:
        """A `StoreOpenError` for what users meet; anything else (a damaged file) is returned unchanged."""
        reason = str(exc).lower()
        if "locked" in reason or "busy" in reason:
            return StoreOpenError(f"Diffusion Desk cannot open its chats: {_in_use(self.path)} (the file was not "
                                  "changed).")
        if "readonly" in reason or "read-only" in reason:
            return StoreOpenError(f"The chat database {self.path} (or its folder) is read-only. Make it writable, "
                                  "or set DIFFUSION_DESK_HOME to a writable folder.")
        if "full" in reason:
            return StoreOpenError(f"The chat database {self.path} cannot be opened: the disk is full. Free some "
                                  "space and start Diffusion Desk again.")
        exc.db_path = str(self.path)  # type: ignore[attr-defined] - the startup message names the file
        return exc

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()

    def read(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        """All rows of one query, fetched at once; a lock held by another program (or a disk error) becomes a
        `StoreReadError` within BUSY_TIMEOUT_S instead of a traceback. Every read of the store goes through here."""
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreReadError.from_sqlite(exc, self.path) from exc

    def read_one(self, sql: str, params: tuple | dict = ()) -> sqlite3.Row | None:
        """The first row of one query (or None), as `read`."""
        rows = self.read(sql, params)
        return rows[0] if rows else None

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")  # a full disk can fail here too (WAL append): then roll back
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            raise StoreWriteError.from_sqlite(exc, self.path) from exc

    # Conversations

    def create_conversation(self, title: str = NEW_CHAT_TITLE, system_prompt: str = "",
                            thinking: bool = False) -> Conversation:
        """A new, empty conversation."""
        now = time.time()
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO conversations (title, system_prompt, thinking, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (title, system_prompt, int(thinking), now, now),
            )
        return self.conversation(int(cur.lastrowid))

    def conversation(self, conversation_id: int) -> Conversation:
        """One conversation; KeyError when it does not exist."""
        row = self.read_one("SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        if row is None:
            raise KeyError(conversation_id)
        return _conversation(row)

    def unused_conversation(self) -> Conversation | None:
        """The newest conversation as "New chat" makes it — no messages, no system prompt, not renamed — or None."""
        row = self.read_one(
            "SELECT * FROM conversations c WHERE c.system_prompt = '' AND c.title = ? AND NOT EXISTS ("
            "SELECT 1 FROM messages m WHERE m.conversation_id = c.id) ORDER BY updated_at DESC, id DESC LIMIT 1",
            (NEW_CHAT_TITLE,),
        )
        return None if row is None else _conversation(row)

    def conversations(self, search: str = "") -> list[Conversation]:
        """Newest first; `search` matches titles and message text (case-insensitive)."""
        if not search.strip():
            rows = self.read("SELECT * FROM conversations ORDER BY updated_at DESC, id DESC")
        else:
            like = "%" + search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            rows = self.read(
                "SELECT * FROM conversations c WHERE c.title LIKE ?1 ESCAPE '\\' OR EXISTS ("
                "SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.text LIKE ?1 ESCAPE '\\') "
                "ORDER BY updated_at DESC, id DESC",
                (like,),
            )
        return [_conversation(r) for r in rows]

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        """Set a conversation's title."""
        with self._tx() as c:
            c.execute("UPDATE conversations SET title = ? WHERE id = ?", (title.strip() or "Untitled", conversation_id))

    def set_system_prompt(self, conversation_id: int, text: str) -> None:
        """Set a conversation's system prompt."""
        with self._tx() as c:
            c.execute("UPDATE conversations SET system_prompt = ? WHERE id = ?", (text, conversation_id))

    def set_thinking(self, conversation_id: int, enabled: bool) -> None:
        """Remember whether a conversation asks the model to think."""
        with self._tx() as c:
            c.execute("UPDATE conversations SET thinking = ? WHERE id = ?", (int(enabled), conversation_id))

    def delete_conversation(self, conversation_id: int) -> None:
        """Delete a conversation with its messages and frames."""
        with self._tx() as c:
            c.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    def draft(self, conversation_id: int) -> str:
        """The unsent text of a conversation's message box ("" when none)."""
        row = self.read_one("SELECT text FROM drafts WHERE conversation_id = ?", (conversation_id,))
        return "" if row is None else row["text"]

    def drafted(self) -> set[int]:
        """The conversations that have unsent text."""
        return {row["conversation_id"] for row in self.read("SELECT conversation_id FROM drafts")}

    def set_draft(self, conversation_id: int, text: str) -> None:
        """Keep (or, when blank, forget) a conversation's unsent text; the chat's place in the list does not change.
        A conversation deleted meanwhile is ignored."""
        with self._tx() as c:
            if not text.strip():
                c.execute("DELETE FROM drafts WHERE conversation_id = ?", (conversation_id,))
            else:
                c.execute(
                    "INSERT INTO drafts (conversation_id, text, updated_at) SELECT id, ?, ? FROM conversations "
                    "WHERE id = ? ON CONFLICT(conversation_id) DO UPDATE SET text = excluded.text, "
                    "updated_at = excluded.updated_at",
                    (text, time.time(), conversation_id),
                )

    # Messages

    def messages(self, conversation_id: int) -> list[Message]:
        """A conversation's messages in order."""
        rows = self.read(
            "SELECT * FROM messages WHERE conversation_id = ? ORDER BY position", (conversation_id,)
        )
        return [_message(r) for r in rows]

    def message(self, message_id: int) -> Message:
        """One message; KeyError when it does not exist."""
        row = self.read_one("SELECT * FROM messages WHERE id = ?", (message_id,))
        if row is None:
            raise KeyError(message_id)
        return _message(row)

    def add_user_message(self, conversation_id: int, text: str, *, replace_from: int | None = None) -> Message:
        """Append a user message; with `replace_from`, messages at that position and later are dropped first
        (edit-and-resend). The first message of an untitled chat becomes its title."""
        now = time.time()
        with self._tx() as c:
            if replace_from is not None:
                c.execute(
                    "DELETE FROM messages WHERE conversation_id = ? AND position >= ?", (conversation_id, replace_from)
                )
            position = self._next_position(c, conversation_id)
            cur = c.execute(
                "INSERT INTO messages (conversation_id, position, role, text, created_at, updated_at) "
                "VALUES (?, ?, 'user', ?, ?, ?)",
                (conversation_id, position, text, now, now),
            )
            if position == 0:
                title = title_from(text)
                c.execute("UPDATE conversations SET title = ? WHERE id = ? AND title = ?",
                          (title, conversation_id, NEW_CHAT_TITLE))
            c.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id))
        return self.message(int(cur.lastrowid))

    def truncate_from(self, conversation_id: int, position: int) -> None:
        """Drop the messages at `position` and after (regenerate replaces the last answer)."""
        with self._tx() as c:
            c.execute("DELETE FROM messages WHERE conversation_id = ? AND position >= ?", (conversation_id, position))

    def start_assistant(
        self, conversation_id: int, *, seed: int | None, settings: dict[str, Any], model: str
    ) -> Message:
        """Create the answer row (status 'generating') before the first canvas arrives."""
        now = time.time()
        with self._tx() as c:
            position = self._next_position(c, conversation_id)
            cur = c.execute(
                "INSERT INTO messages (conversation_id, position, role, seed, settings_json, model, status, "
                "created_at, updated_at) VALUES (?, ?, 'assistant', ?, ?, ?, 'generating', ?, ?)",
                (conversation_id, position, seed, json.dumps(settings), model, now, now),
            )
            c.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id))
        return self.message(int(cur.lastrowid))

    def save_canvas(
        self, message_id: int, text: str, canvas_index: int, frames_blob: bytes, steps: int, canvas_length: int
    ) -> None:
        """A canvas boundary: the answer text so far and that canvas's packed frames, in one transaction."""
        with self._tx() as c:
            c.execute("UPDATE messages SET text = ?, updated_at = ? WHERE id = ?", (text, time.time(), message_id))
            c.execute(
                "INSERT OR REPLACE INTO canvas_frames (message_id, canvas_index, steps, canvas_length, data) "
                "VALUES (?, ?, ?, ?, ?)",
                (message_id, canvas_index, steps, canvas_length, frames_blob),
            )

    def finish_assistant(
        self, message_id: int, *, text: str, thinking: str, stats: dict[str, Any] | None, status: str
    ) -> None:
        """The end of an answer: final text, folded thought, stats and status (done, cancelled, error)."""
        with self._tx() as c:
            c.execute(
                "UPDATE messages SET text = ?, thinking = ?, stats_json = ?, status = ?, updated_at = ? WHERE id = ?",
                (text, thinking, json.dumps(stats) if stats is not None else None, status, time.time(), message_id),
            )

    def canvas_frames(self, message_id: int) -> list[list[Frame]]:
        """Every stored frame of an answer, one list per canvas, for the scrubber."""
        rows = self.read(
            "SELECT canvas_index, data FROM canvas_frames WHERE message_id = ? ORDER BY canvas_index", (message_id,)
        )
        return [decode_canvas(r["data"], r["canvas_index"]) for r in rows]

    @staticmethod
    def _next_position(c: sqlite3.Connection, conversation_id: int) -> int:
        row = c.execute(
            "SELECT COALESCE(MAX(position) + 1, 0) FROM messages WHERE conversation_id = ?", (conversation_id,)
        ).fetchone()
        return int(row[0])
