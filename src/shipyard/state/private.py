"""A SQLite database's files are the owner's alone: the file and its -wal/-shm at 0600.

SQLite creates them with the process's umask; ``open_store`` (state.db) and ``LogStore``
(logs.db) call ``make_private`` on every connection, so a store created before this rule, or
by a process with a looser umask, is tightened too.
"""

from __future__ import annotations

import stat
from pathlib import Path


def make_private(database: Path) -> None:
    """Tighten ``database`` and its -wal and -shm files to 0600 where they are looser."""
    for path in (
        database,
        database.with_name(database.name + "-wal"),
        database.with_name(database.name + "-shm"),
    ):
        try:
            if stat.S_IMODE(path.stat().st_mode) & 0o077:
                path.chmod(0o600)
        except FileNotFoundError:
            pass
