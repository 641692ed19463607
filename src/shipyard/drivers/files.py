"""Durable, private file writes: temp file, fsync, rename, fsync the folder; and the home's mode.

Every file Shipyard writes that must survive a crash goes through here. Files are 0600 unless
a caller says otherwise, log files are opened 0600 (``open_private_append``), and the home is
0700 (``secure_home``): state, logs, keys and app databases are the owner's alone.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO

PRIVATE_UMASK = 0o077  # children (instances, app commands) create their files 0600


def write_atomic(path: Path, data: str | bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_json(path: Path, data: object, mode: int = 0o600) -> None:
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n", mode)


def read_json(path: Path) -> object | None:
    try:
        data: object = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data


def open_private_append(path: Path) -> BinaryIO:
    """``path`` opened for appending, created 0600 when new (a log file)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    return os.fdopen(fd, "ab")


def secure_home(home: Path, traverse: bool = False) -> str | None:
    """Create the home 0700, or tighten a looser one; returns a line saying so, if it did.

    ``traverse`` leaves others the right to pass through (0711, no listing or reading), which a
    managed PostgreSQL's unprivileged OS user needs to reach its data folder.
    """
    wanted = 0o711 if traverse else 0o700
    home.mkdir(parents=True, exist_ok=True, mode=wanted)
    mode = stat.S_IMODE(home.stat().st_mode)
    if mode != wanted:
        home.chmod(wanted)
    if mode & ~wanted:
        return f"the home {home} was {mode:04o}: tightened to {wanted:04o}"
    return None
