"""SQLite's write-ahead log read directly: header, committed frames, checksums, and replay.

Continuous shipping (``engine/data/sqlite/continuous.py``) copies the frames SQLite appends to
``<db>-wal`` as they are committed, and a point-in-time restore replays them onto a snapshot.
The format is SQLite's (https://www.sqlite.org/fileformat2.html#walformat): a 32-byte header
(magic, version, page size, checkpoint sequence, two salts, a checksum), then frames of a
24-byte header (page number, database size in pages for a commit frame, the salts, a
cumulative checksum) and one page. A frame counts only if its salts match the header and the
checksum chain holds, and only frames up to the last commit frame are returned, so a
transaction still being written, a torn write or stale frames of an earlier generation are
never shipped.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from shipyard.errors import BackupError

HEADER_SIZE = 32
FRAME_HEADER_SIZE = 24
MAGIC_LE = 0x377F0682
MAGIC_BE = 0x377F0683
Checksum = tuple[int, int]


@dataclass(frozen=True)
class WalHeader:
    raw: bytes
    page_size: int
    salts: tuple[int, int]
    checksum: Checksum
    big_endian: bool


@dataclass(frozen=True)
class Frames:
    """Committed frames read from a WAL: ``count`` frames from frame number ``first`` (1-based)."""

    first: int
    count: int
    data: bytes
    end: Checksum  # the chain's checksum after the last frame, seed of the next read


def checksum(data: bytes, big_endian: bool, seed: Checksum = (0, 0)) -> Checksum:
    """SQLite's WAL checksum of ``data`` (a multiple of 8 bytes), continuing ``seed``."""
    words = struct.unpack(f"{'>' if big_endian else '<'}{len(data) // 4}I", data)
    s0, s1 = seed
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def read_header(wal: Path) -> WalHeader | None:
    """The WAL's header, or None when there is no WAL or it is empty or not yet valid."""
    try:
        with open(wal, "rb") as fh:
            raw = fh.read(HEADER_SIZE)
    except FileNotFoundError:
        return None
    return parse_header(raw)


def parse_header(raw: bytes) -> WalHeader | None:
    if len(raw) < HEADER_SIZE:
        return None
    raw = raw[:HEADER_SIZE]
    magic, _version, page_size, _seq, salt1, salt2, c0, c1 = struct.unpack(">8I", raw)
    if magic not in (MAGIC_LE, MAGIC_BE):
        return None
    big = magic == MAGIC_BE
    if checksum(raw[:24], big) != (c0, c1):
        return None
    return WalHeader(raw, page_size, (salt1, salt2), (c0, c1), big)


def read_committed(wal: Path, header: WalHeader, after: int, seed: Checksum) -> Frames | None:
    """Committed frames after frame number ``after``, whose chain continues from ``seed``."""
    size = FRAME_HEADER_SIZE + header.page_size
    chunks: list[bytes] = []
    committed, chain, committed_chain = 0, seed, seed
    with open(wal, "rb") as fh:
        fh.seek(HEADER_SIZE + after * size)
        while True:
            frame = fh.read(size)
            if len(frame) < size:
                break
            _page, commit, salt1, salt2, c0, c1 = struct.unpack(">6I", frame[:24])
            if (salt1, salt2) != header.salts:
                break
            chain = checksum(frame[24:], header.big_endian, checksum(frame[:8], header.big_endian, chain))
            if chain != (c0, c1):
                break
            chunks.append(frame)
            if commit:
                committed, committed_chain = len(chunks), chain
    if committed == 0:
        return None
    return Frames(after + 1, committed, b"".join(chunks[:committed]), committed_chain)


def check_frames(data: bytes, header: WalHeader, seed: Checksum) -> Checksum:
    """Verify shipped frames against ``header`` and the chain from ``seed``; return its end."""
    size = FRAME_HEADER_SIZE + header.page_size
    if len(data) % size:
        raise BackupError("a WAL segment is cut inside a frame", "restore an earlier point in time")
    chain = seed
    for offset in range(0, len(data), size):
        frame = data[offset : offset + size]
        _page, _commit, salt1, salt2, c0, c1 = struct.unpack(">6I", frame[:24])
        chain = checksum(frame[24:], header.big_endian, checksum(frame[:8], header.big_endian, chain))
        if (salt1, salt2) != header.salts or chain != (c0, c1):
            raise BackupError(
                "a WAL segment does not continue the one before it (checksum chain broken)",
                "a segment is missing or damaged: restore an earlier point in time",
            )
    return chain


def apply_frames(db: Path, page_size: int, data: bytes) -> None:
    """Write the pages of verified, committed frames into the database file ``db``."""
    size = FRAME_HEADER_SIZE + page_size
    pages = 0
    with open(db, "r+b") as fh:
        for offset in range(0, len(data), size):
            page, commit = struct.unpack(">2I", data[offset : offset + 8])
            fh.seek((page - 1) * page_size)
            fh.write(data[offset + FRAME_HEADER_SIZE : offset + size])
            if commit:
                pages = commit
        if pages:
            fh.truncate(pages * page_size)
        fh.flush()
        os.fsync(fh.fileno())
