"""Cold log archives: JSON lines compressed with zstd, written temp + fsync + rename.

The log service moves lines older than their environment's ``hot`` age (or the oldest
lines, when the store is full) into ``<home>/logs-archive/<env>/<first>-<last>-<n>.jsonl.zst``
with ``write_archive``, and only then deletes them from the store; ``read_archive``
gives an archive's lines back for ``shipyard logs export``. A file that is not a
readable archive is reported as a ``StateError`` naming it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import zstandard

from shipyard.drivers.files import write_atomic
from shipyard.errors import StateError

SUFFIX = ".jsonl.zst"
LEVEL = 9


def archive_name(first_at: float, last_at: float, first_id: int) -> str:
    def stamp(at: float) -> str:
        return time.strftime("%Y%m%dT%H%M%S", time.gmtime(at))

    return f"{stamp(first_at)}-{stamp(last_at)}-{first_id}{SUFFIX}"


def write_archive(folder: Path, rows: Sequence[dict[str, Any]]) -> tuple[Path, int]:
    """Write ``rows`` (store rows, oldest first) as one archive; its path and size in bytes."""
    first_at = min(r["at"] for r in rows)
    last_at = max(r["at"] for r in rows)
    path = folder / archive_name(first_at, last_at, int(rows[0]["id"]))
    body = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rows)
    data = zstandard.ZstdCompressor(level=LEVEL).compress(body.encode())
    write_atomic(path, data)  # 0600: old log lines may hold anything
    return path, len(data)


def read_archive(path: Path) -> Iterator[dict[str, Any]]:
    """The lines of one archive, oldest first."""
    try:
        with open(path, "rb") as fh:
            reader = zstandard.ZstdDecompressor().stream_reader(fh)
            pending = b""
            while chunk := reader.read(1 << 20):
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    yield json.loads(line)
    except (OSError, zstandard.ZstdError, ValueError) as exc:
        raise StateError(
            f"cannot read the log archive {path}: {exc}",
            "the file is damaged or not an archive; move it out of logs-archive/ to skip it",
        ) from None


def archive_files(root: Path) -> list[Path]:
    return sorted(root.glob(f"*/*{SUFFIX}"))
