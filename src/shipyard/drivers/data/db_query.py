"""Read-only queries of a restored copy, for the verify query suite and drills.

``sqlite_rows`` opens the copy read-only (``mode=ro`` and ``PRAGMA query_only``) and
interrupts a query that outlives its timeout; ``postgres_rows`` runs ``psql`` with the
session made read-only and a ``statement_timeout`` (``PGOPTIONS``), fields and rows split by
separators no value holds. Both return at most ``LIMIT`` rows of text cells (NULL as None)
and raise ``BackupError`` (``DatabaseError`` for psql) saying what the database answered.
Called by ``engine/data/backups.py``, ``engine/data/postgres/backups.py`` and the drills.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from shipyard.drivers.data.interface import Conn, PostgresPrograms
from shipyard.errors import BackupError

LIMIT = 1000
Rows = list[tuple[str | None, ...]]
FIELD, RECORD, NULL = "\x1f", "\x1e", "\x1d"  # unit, record and group separators


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def sqlite_rows(path: Path, sql: str, timeout: float) -> Rows:
    """The rows ``sql`` returns from the SQLite file ``path``, opened read-only."""
    deadline = time.monotonic() + timeout
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open {path}: {exc}", "verify the backup again") from None
    try:
        conn.execute("PRAGMA query_only = 1")
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
        rows = conn.execute(sql).fetchmany(LIMIT)
        return [tuple(_text(v) for v in row) for row in rows]
    except sqlite3.Error as exc:
        said = f"timed out after {timeout:g}s" if time.monotonic() > deadline else str(exc)
        raise BackupError(said, "fix the query in database.backups.verify_queries") from None
    finally:
        conn.close()


def postgres_rows(pg: PostgresPrograms, conn: Conn, sql: str, timeout: float) -> Rows:
    """The rows ``sql`` returns through ``conn``, in a read-only session."""
    env = conn.env()
    env["PGOPTIONS"] = (
        f"-c default_transaction_read_only=on -c statement_timeout={max(1, int(timeout * 1000))}"
    )
    argv = [
        pg.program("psql"), "-X", "-v", "ON_ERROR_STOP=1", "-A", "-q", "-P", "footer=off",
        "-F", FIELD, "-R", RECORD, "-P", f"null={NULL}", "-c", sql,
    ]  # fmt: skip
    out = pg.run(argv, "the query", env=env, timeout=timeout + 10,
                 hint="fix the query in database.backups.verify_queries")  # fmt: skip
    # the header, then each row after a record separator: one row of one empty value stays a row
    records = out.removesuffix("\n").split(RECORD)[1:]
    return [tuple(None if c == NULL else c for c in r.split(FIELD)) for r in records[:LIMIT]]
