"""Migrations of the notes database, run by Shipyard (`database.migrate` in shipyard.yaml).

`python migrate.py up|down|status|plan`. The schema version is SQLite's `PRAGMA user_version`;
each migration is SQL, run in one transaction with its version bump; `plan` prints that SQL
for the pending migrations without running it (the database is opened read-only). Shipyard
runs `up` with the NEW release before its instances start, while the old version still
serves: so every migration here only expands the schema (see docs/operations.md,
expand/contract).
"""

import os
import sqlite3
import sys
from collections.abc import Callable
from typing import NamedTuple


class Migration(NamedTuple):
    name: str
    up: str
    down: str
    # True when the schema already has what `up` adds (v2's app adds the column itself at
    # start when it runs without Shipyard's migrations): the version is bumped, the SQL skipped
    present: Callable[[sqlite3.Connection], bool] = lambda conn: False


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


# version N is reached by applying the first N migrations
MIGRATIONS = [
    Migration(
        "create table notes",
        "CREATE TABLE IF NOT EXISTS notes "
        "(id INTEGER PRIMARY KEY, text TEXT NOT NULL, created_at TEXT NOT NULL)",
        "DROP TABLE notes",
    ),
    # Expand only: a nullable column, invisible to v1's queries (they name their columns).
    Migration(
        "add column notes.tags",
        "ALTER TABLE notes ADD COLUMN tags TEXT",
        "ALTER TABLE notes DROP COLUMN tags",
        lambda conn: "tags" in columns(conn),
    ),
]


def plan(version: int) -> int:
    pending = list(enumerate(MIGRATIONS[version:], start=version + 1))
    print(f"-- schema version {version}; {len(pending)} pending migration(s)")
    for number, step in pending:
        print(f"-- {number}: {step.name}\nBEGIN IMMEDIATE;\n{step.up};")
        print(f"PRAGMA user_version = {number};\nCOMMIT;")
    return 0


def main(command: str) -> int:
    if command == "plan":  # read-only: a database that does not exist yet is at version 0
        if not os.path.exists(db_path()):
            return plan(0)
        conn = sqlite3.connect(f"file:{db_path()}?mode=ro", uri=True)
    else:
        conn = sqlite3.connect(db_path(), timeout=5.0, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        known = len(MIGRATIONS)
        if command == "plan":
            return plan(version)
        if command == "status":
            pending = [step.name for step in MIGRATIONS[version:]]
            print(f"schema version {version}; this release knows {known}; pending: {pending or 'none'}")
            return 0
        if version > known:
            # A newer release expanded the schema; this one runs on it unchanged.
            print(f"schema version {version} is newer than this release's {known}: nothing to do")
            return 0
        if command == "up":
            for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
                conn.execute("BEGIN IMMEDIATE")
                if not step.present(conn):
                    conn.execute(step.up)
                conn.execute(f"PRAGMA user_version = {number}")
                conn.execute("COMMIT")
                print(f"applied {number}: {step.name}")
            print(f"schema version {max(version, known)}")
            return 0
        if command == "down":
            if version == 0:
                print("schema version 0: nothing to revert")
                return 0
            step = MIGRATIONS[version - 1]
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(step.down)
            conn.execute(f"PRAGMA user_version = {version - 1}")
            conn.execute("COMMIT")
            print(f"reverted {version}: {step.name}; schema version {version - 1}")
            return 0
    finally:
        conn.close()
    print(f"usage: python migrate.py up|down|status|plan (got {command!r})", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ""))
