"""The log store's schema: its tables, indexes and triggers, versioned with ``PRAGMA user_version``.

- ``lines``: one row per log line (time, environment, release, instance, stream, level,
  message, a JSON line's other fields, flags); ``lines_fts`` is an FTS5 index of the
  messages kept in step by triggers; ``spans`` the ids between which each release's lines are.
- ``sources``: for each followed log file, its inode and the offset read so far.
- ``archives``: cold archives written from old lines.

``migrate`` creates it when ``state/logs.py``'s ``LogStore`` opens a new store.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 1
WARN = 40  # core.logline.LEVELS["warn"]
SCHEMA = [
    """CREATE TABLE lines (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        env TEXT NOT NULL,
        release TEXT NOT NULL DEFAULT '',
        instance TEXT NOT NULL DEFAULT '',
        stream TEXT NOT NULL,
        level INTEGER NOT NULL,
        message TEXT NOT NULL,
        fields TEXT,
        flags INTEGER NOT NULL DEFAULT 0)""",
    # A search without text walks one of these newest first and stops at its limit; the
    # partial one holds only warnings and worse (few, so it costs the writes little).
    "CREATE INDEX lines_env_at ON lines(env, at)",
    f"CREATE INDEX lines_env_warn_at ON lines(env, at) WHERE level >= {WARN}",
    # The ids between which each release's lines are: a --release search reads only those.
    """CREATE TABLE spans (
        env TEXT NOT NULL,
        release TEXT NOT NULL,
        first_id INTEGER NOT NULL,
        last_id INTEGER NOT NULL,
        PRIMARY KEY (env, release))""",
    # detail=none: the index knows which lines hold a word, not where (a third smaller and
    # faster to write); the searched text itself is then checked on the lines found.
    "CREATE VIRTUAL TABLE lines_fts USING fts5(message, content='lines', content_rowid='id', detail=none)",
    """CREATE TRIGGER lines_ai AFTER INSERT ON lines BEGIN
        INSERT INTO lines_fts(rowid, message) VALUES (new.id, new.message); END""",
    """CREATE TRIGGER lines_ad AFTER DELETE ON lines BEGIN
        INSERT INTO lines_fts(lines_fts, rowid, message) VALUES ('delete', old.id, old.message); END""",
    """CREATE TABLE sources (
        path TEXT PRIMARY KEY,
        inode INTEGER NOT NULL,
        offset INTEGER NOT NULL,
        instance_id INTEGER,
        skipping INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE archives (
        path TEXT PRIMARY KEY,
        env TEXT NOT NULL,
        first_at REAL NOT NULL,
        last_at REAL NOT NULL,
        lines INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        created_at REAL NOT NULL)""",
]
COLUMNS = ("id", "at", "env", "release", "instance", "stream", "level", "message", "fields", "flags")


def migrate(conn: sqlite3.Connection) -> None:
    """Create the schema in a new store; refuse a store made by a newer Shipyard."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"its schema version {version} is newer than this Shipyard's {SCHEMA_VERSION}"
        )
    if version == 0:
        conn.execute("BEGIN IMMEDIATE")
        for statement in SCHEMA:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        conn.execute("COMMIT")
