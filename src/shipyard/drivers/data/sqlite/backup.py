"""SQLite online copies through SQLite's backup API, integrity checks and in-place restore.

``snapshot`` copies a live database consistently while the app keeps reading and writing
(in WAL mode writers are not blocked). ``integrity`` runs ``PRAGMA integrity_check``
(``quick_check`` for the faster look at a live database before a restore). ``set_aside``
renames a broken database, with its ``-wal`` and ``-shm``, out of the way, never deleting it.
``restore_into`` writes a verified copy into the live database through the same backup
API, so SQLite's locking makes the change atomic for every open connection: running
instances keep running, and their next transaction sees the restored data. Called by
``engine/data/backups.py``; ``round_trip`` by the health report.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from shipyard.errors import BackupError

BUSY_TIMEOUT_S = 30.0


def snapshot(source: Path, target: Path) -> None:
    """A consistent copy of ``source`` (a live SQLite file) at ``target``."""
    if not source.exists():
        raise BackupError(
            f"the database {source} does not exist yet: nothing to back up",
            "deploy the app first; it creates its database on first use",
        )
    target.unlink(missing_ok=True)
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            dst = sqlite3.connect(target)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode=DELETE")
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        target.unlink(missing_ok=True)
        raise BackupError(
            f"SQLite could not copy {source}: {exc}",
            "check the database with `sqlite3 FILE 'PRAGMA integrity_check'`",
        ) from None
    _fsync(target)


def round_trip(path: Path) -> tuple[float | None, str]:
    """Milliseconds for a read-only open and a schema read of ``path``, or why it failed;
    (None, "") when there is no database file yet. For ``GET /health``."""
    if not path.exists():
        return None, ""
    started = time.perf_counter()
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)
        try:
            conn.execute("PRAGMA schema_version").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return None, f"the SQLite database does not answer: {exc}"
    return (time.perf_counter() - started) * 1000, ""


def integrity(path: Path, quick: bool = False) -> str:
    """``ok``, or what ``PRAGMA integrity_check`` (``quick_check``) found wrong (first lines)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            rows = conn.execute(f"PRAGMA {'quick_check' if quick else 'integrity_check'}").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"not a usable SQLite database: {exc}"
    found = [str(r[0]) for r in rows]
    return "ok" if found == ["ok"] else "; ".join(found[:5])


def restore_into(copy: Path, live: Path) -> None:
    """Replace the content of the live database ``live`` with the database file ``copy``."""
    live.parent.mkdir(parents=True, exist_ok=True)
    try:
        src = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
        try:
            dst = sqlite3.connect(live, timeout=BUSY_TIMEOUT_S)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise BackupError(
            f"SQLite could not restore into {live}: {exc}",
            "a long write transaction may hold the database: retry; the safety backup taken first "
            "is in `shipyard backup list`",
        ) from None


def set_aside(live: Path, suffix: str) -> Path:
    """Rename ``live`` and its ``-wal``/``-shm`` to ``<name>.<suffix>`` (and ``-wal``/``-shm``
    after it), so that a new database can take its place; the renamed file's path."""
    kept = live.with_name(f"{live.name}.{suffix}")
    for extra in ("-wal", "-shm", ""):  # its WAL first: never left for a new file to replay
        source = live.with_name(live.name + extra)
        if source.exists():
            source.rename(kept.with_name(kept.name + extra))
    return kept


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
