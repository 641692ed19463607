"""Migrations of the notes database, run by Shipyard (`database.migrate` in shipyard.yaml).

`python migrate.py up|down|status`. The schema version is SQLite's `PRAGMA user_version`;
each migration runs in one transaction with its version bump. Shipyard runs `up` with the
NEW release before its instances start, while the old version still serves: so every
migration here only expands the schema (see docs/operations.md, expand/contract).
"""

import os
import sqlite3
import sys
from collections.abc import Callable

Step = Callable[[sqlite3.Connection], None]


def db_path() -> str:
    url = os.environ.get("DATABASE_URL", "")
    from_url = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else ""
    return (
        os.environ.get("NOTES_DB")
        or from_url
        or os.path.join(os.environ.get("SHIPYARD_DATA_DIR", "."), "notes.db")
    )


def columns(conn: sqlite3.Connection) -> set[str]:
    return {row[1] for row in conn.execute("PRAGMA table_info(notes)")}


def create_notes(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS notes ("
        "id INTEGER PRIMARY KEY, text TEXT NOT NULL, created_at TEXT NOT NULL)"
    )


def drop_notes(conn: sqlite3.Connection) -> None:
    conn.execute("DROP TABLE notes")


def add_tags(conn: sqlite3.Connection) -> None:
    # Expand only: a nullable column, invisible to v1's queries (they name their columns).
    if "tags" not in columns(conn):  # v2's app may have added it at start
        conn.execute("ALTER TABLE notes ADD COLUMN tags TEXT")


def drop_tags(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE notes DROP COLUMN tags")


# (name, up, down): version N is reached by applying the first N migrations.
MIGRATIONS: list[tuple[str, Step, Step]] = [
    ("create table notes", create_notes, drop_notes),
    ("add column notes.tags", add_tags, drop_tags),
]


def main(command: str) -> int:
    conn = sqlite3.connect(db_path(), timeout=5.0, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        known = len(MIGRATIONS)
        if command == "status":
            pending = [name for name, _, _ in MIGRATIONS[version:]]
            print(f"schema version {version}; this release knows {known}; pending: {pending or 'none'}")
            return 0
        if version > known:
            # A newer release expanded the schema; this one runs on it unchanged.
            print(f"schema version {version} is newer than this release's {known}: nothing to do")
            return 0
        if command == "up":
            for number, (name, up, _) in enumerate(MIGRATIONS[version:], start=version + 1):
                conn.execute("BEGIN IMMEDIATE")
                up(conn)
                conn.execute(f"PRAGMA user_version = {number}")
                conn.execute("COMMIT")
                print(f"applied {number}: {name}")
            print(f"schema version {max(version, known)}")
            return 0
        if command == "down":
            if version == 0:
                print("schema version 0: nothing to revert")
                return 0
            name, _, down = MIGRATIONS[version - 1]
            conn.execute("BEGIN IMMEDIATE")
            down(conn)
            conn.execute(f"PRAGMA user_version = {version - 1}")
            conn.execute("COMMIT")
            print(f"reverted {version}: {name}; schema version {version - 1}")
            return 0
    finally:
        conn.close()
    print(f"usage: python migrate.py up|down|status (got {command!r})", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ""))
