"""Follows the instances' log files: the complete lines written since the last read.

The process runtime (``supervisor.LocalRuntime``, whose ``outputs`` and ``read_output`` these
are) writes each instance's stdout to ``<home>/envs/<env>/logs/<name>.log``
and its stderr to ``<name>.stderr.log``; those files stay the source of truth (an
instance keeps logging while the control plane is down). The log service calls
``read_new`` for each file with the position it last committed (inode + offset, kept
in logs.db) and gets the new complete lines and the next position. A file whose inode
changed (rotated, replaced) or that shrank (truncated) is read again from its start.
A line longer than one read (``CHUNK``) is cut: its first bytes are returned (the line
parser marks it truncated) and the rest is skipped up to its newline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from shipyard.core.logline import Source

CHUNK = 1024 * 1024
STDERR_SUFFIX = ".stderr.log"


@dataclass(frozen=True)
class OutputStream:
    """One stream of an instance's output that the log service follows (``Runtime.outputs``)."""

    key: str  # names its position in logs.db (here the file's path)
    env: str
    instance: str  # the instance's name (``blue-0``), or ``migrate`` for one-off commands
    stream: str  # stdout or stderr


def instance_log(envs_dir: Path, env: str, name: str) -> Path:
    """Where the process runtime writes instance ``name``'s stdout (``log_files`` finds it)."""
    return envs_dir / env / "logs" / f"{name}.log"


def stderr_path(stdout_log: Path) -> Path:
    """Where an instance's stderr goes, next to its stdout log ``<name>.log``."""
    return stdout_log.with_name(stdout_log.name.removesuffix(".log") + STDERR_SUFFIX)


def log_files(envs_dir: Path) -> list[OutputStream]:
    """Every instance log under ``<home>/envs``."""
    found = []
    for path in sorted(envs_dir.glob("*/logs/*.log")):
        env = path.parent.parent.name
        if path.name.endswith(STDERR_SUFFIX):
            found.append(OutputStream(str(path), env, path.name.removesuffix(STDERR_SUFFIX), "stderr"))
        else:
            found.append(OutputStream(str(path), env, path.name.removesuffix(".log"), "stdout"))
    return found


def read_new(path: Path, known: Source | None, limit: int = CHUNK) -> tuple[list[bytes], Source] | None:
    """New complete lines of ``path`` after ``known`` and the position after them; None if none."""
    try:
        with open(path, "rb") as fh:
            stat = os.fstat(fh.fileno())
            restart = known is None or known.inode != stat.st_ino or stat.st_size < known.offset
            offset = 0 if restart or known is None else known.offset
            skipping = False if restart or known is None else known.skipping
            instance_id = None if restart or known is None else known.instance_id
            if stat.st_size == offset:
                return None if not restart else ([], Source(str(path), stat.st_ino, 0, None, False))
            fh.seek(offset)
            data = fh.read(limit)
    except FileNotFoundError:
        return None
    end = data.rfind(b"\n")
    if end < 0:
        if len(data) < limit:
            return None  # a line still being written
        lines = [] if skipping else [data]  # a line longer than one read: keep its start only
        return lines, Source(str(path), stat.st_ino, offset + len(data), instance_id, True)
    lines = data[:end].split(b"\n")
    if skipping:
        lines = lines[1:]  # the rest of a cut line
    return lines, Source(str(path), stat.st_ino, offset + end + 1, instance_id, False)
