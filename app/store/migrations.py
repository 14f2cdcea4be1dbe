"""Schema migrations of the chat store: `PRAGMA user_version` names the schema, each step moves it up by one;
`PRAGMA application_id` marks the file as Diffusion Desk's, so another program's database is never touched."""

from __future__ import annotations

import sqlite3

SCHEMA_V1 = """
CREATE TABLE conversations (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    system_prompt TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    text TEXT NOT NULL DEFAULT '',
    thinking TEXT NOT NULL DEFAULT '',
    seed INTEGER,
    settings_json TEXT,
    stats_json TEXT,
    model TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'done',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX messages_by_conversation ON messages(conversation_id, position);
CREATE TABLE canvas_frames (
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    canvas_index INTEGER NOT NULL,
    steps INTEGER NOT NULL,
    canvas_length INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (message_id, canvas_index)
);
"""

SCHEMA_V2 = """
ALTER TABLE conversations ADD COLUMN thinking INTEGER NOT NULL DEFAULT 0;
CREATE INDEX conversations_by_update ON conversations(updated_at);
"""

# Issue 15: Compare experiments (each variant with its full settings, seed, answer and frames) and the versions of
# a rewritten answer (messages.text stays the current version's text, so history, search and export are unchanged).
SCHEMA_V3 = """
CREATE TABLE experiments (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    prompt TEXT NOT NULL,
    context_json TEXT NOT NULL DEFAULT '[]',
    conversation_id INTEGER REFERENCES conversations(id) ON DELETE SET NULL,
    model TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE experiment_variants (
    id INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    column_index INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    preset TEXT NOT NULL DEFAULT 'defaults',
    system_prompt TEXT NOT NULL DEFAULT '',
    prompt TEXT NOT NULL DEFAULT '',
    settings_json TEXT NOT NULL,
    text TEXT NOT NULL DEFAULT '',
    stats_json TEXT,
    status TEXT NOT NULL DEFAULT 'new',
    UNIQUE (experiment_id, column_index)
);
CREATE TABLE variant_frames (
    variant_id INTEGER NOT NULL REFERENCES experiment_variants(id) ON DELETE CASCADE,
    canvas_index INTEGER NOT NULL,
    steps INTEGER NOT NULL,
    canvas_length INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (variant_id, canvas_index)
);
CREATE TABLE message_versions (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    text TEXT NOT NULL,
    instruction TEXT NOT NULL DEFAULT '',
    span_start INTEGER,
    span_end INTEGER,
    seed INTEGER,
    created_at REAL NOT NULL,
    UNIQUE (message_id, number)
);
ALTER TABLE messages ADD COLUMN current_version INTEGER NOT NULL DEFAULT 0;
CREATE INDEX experiments_by_update ON experiments(updated_at)
"""

# A Compare variant asked with the "Thinking on" preset keeps its thought beside its answer.
SCHEMA_V4 = """
ALTER TABLE experiment_variants ADD COLUMN thinking TEXT NOT NULL DEFAULT '';
"""

# The frames of a rewritten version (Rewrite selection), so "Replay canvas" shows how that version was denoised.
SCHEMA_V5 = """
CREATE TABLE version_frames (
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    canvas_index INTEGER NOT NULL,
    steps INTEGER NOT NULL,
    canvas_length INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (message_id, number, canvas_index)
);
"""

# The unsent text of each chat's message box, so switching chats, Edit & resend or a quit loses none of it.
SCHEMA_V6 = """
CREATE TABLE drafts (
    conversation_id INTEGER PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
    text TEXT NOT NULL,
    updated_at REAL NOT NULL
);
"""

# MIGRATIONS[i] moves a database from user_version i to i + 1. Append, never edit a released step.
MIGRATIONS: list[str] = [SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4, SCHEMA_V5, SCHEMA_V6]
SCHEMA_VERSION = len(MIGRATIONS)
APPLICATION_ID = 0x44446573  # "DDes" in the SQLite header; files from before it existed are recognised by tables
OUR_TABLES = frozenset({"conversations", "messages", "canvas_frames"})


class NewerSchemaError(RuntimeError):
    """The database was written by a newer Diffusion Desk; it is left untouched."""


class ForeignDatabaseError(RuntimeError):
    """The file is an SQLite database of some other program; it is left untouched."""


def check_ours(conn: sqlite3.Connection, path: str = "") -> None:
    """Refuse (read-only checks) a database that is not Diffusion Desk's: another application id, or tables but
    not ours. An empty database is ours to set up; a newer schema of ours raises `NewerSchemaError`."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    tables = {t for t in tables if not t.startswith("sqlite_")}
    foreign = app_id not in (0, APPLICATION_ID)
    if not foreign and app_id == 0 and (tables or version) and version <= SCHEMA_VERSION:
        foreign = version < 1 or not OUR_TABLES <= tables
    if foreign:
        names = ", ".join(sorted(tables)[:6]) or "none"
        raise ForeignDatabaseError(
            f"{path} is an SQLite database of another program (application id {app_id:#x}, tables: {names}), "
            "not Diffusion Desk's chat history. It was not changed. Move it elsewhere (or set "
            "DIFFUSION_DESK_HOME to another folder) and start Diffusion Desk again."
        )
    check_version(conn, path)


def check_version(conn: sqlite3.Connection, path: str = "") -> int:
    """The database's schema version; `NewerSchemaError` when it is newer than this code understands."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise NewerSchemaError(
            f"The chat database {path} has schema version {version}, but this Diffusion Desk understands up "
            f"to {SCHEMA_VERSION}. Update Diffusion Desk; the file was not changed."
        )
    return version


def migrate(conn: sqlite3.Connection, path: str = "") -> int:
    """Bring `conn` up to SCHEMA_VERSION, one transaction per step; return the version it started at."""
    start = check_version(conn, path)
    for version in range(start, SCHEMA_VERSION):
        statements = [s.strip() for s in MIGRATIONS[version].split(";") if s.strip()]
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return start
