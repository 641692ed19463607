"""WAL segments of continuous SQLite shipping: their names, their header, and replay plans.

A continuous backup is a base snapshot plus segments, each holding consecutive committed
WAL frames of one WAL generation (SQLite starts a new generation each time it restarts the
WAL after a checkpoint). Names sort in replay order and say what each holds:
``<env>/<base id>/wal/<generation>-<first frame>-<frame count>-<shipped at, ms>.seg``;
beside them ``wal/head.json`` holds the moment up to which everything committed was shipped
(the end of the recoverable window, also while nothing is written).
``plan_replay`` picks the segments up to a point in time and refuses a gap: a missing
segment is an error, never a silently older database. Pure; used by ``engine/data/sqlite/continuous.py``.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from shipyard.errors import BackupError

SEGMENT_MAGIC = b"SYWS\x01"
_HEADER = struct.Struct(">5sIIIIII")  # magic, generation, first, count, previous end, seed (2)
SEGMENT_HEADER_SIZE = _HEADER.size
_NAME = re.compile(r"/wal/(\d{6})-(\d{10})-(\d{6})-(\d{13})\.seg$")


@dataclass(frozen=True)
class SegmentRef:
    name: str
    generation: int
    first: int
    count: int
    at: float


@dataclass(frozen=True)
class SegmentHeader:
    generation: int
    first: int
    count: int
    previous_end: int  # frames the previous generation had shipped (first segment of a generation)
    seed: tuple[int, int]


def segment_name(env: str, base_id: str, generation: int, first: int, count: int, at: float) -> str:
    return f"{env}/{base_id}/wal/{generation:06d}-{first:010d}-{count:06d}-{round(at * 1000):013d}.seg"


def head_name(env: str, base_id: str) -> str:
    return f"{env}/{base_id}/wal/head.json"


def position(ref: SegmentRef | None) -> str:
    """Where a replay ended, in words: the last segment applied, or the base alone."""
    if ref is None:
        return "the base snapshot: no WAL was shipped after it"
    last = ref.first + ref.count - 1
    return f"WAL generation {ref.generation} frame {last}, segment {ref.name.rsplit('/', 1)[-1]}"


def parse_segment(name: str) -> SegmentRef | None:
    found = _NAME.search(name)
    if found is None:
        return None
    gen, first, count, ms = (int(g) for g in found.groups())
    return SegmentRef(name, gen, first, count, ms / 1000)


def pack_header(head: SegmentHeader) -> bytes:
    return _HEADER.pack(SEGMENT_MAGIC, head.generation, head.first, head.count, head.previous_end, *head.seed)


def unpack_header(data: bytes, name: str) -> SegmentHeader:
    if len(data) < SEGMENT_HEADER_SIZE or data[:5] != SEGMENT_MAGIC:
        raise BackupError(f"WAL segment {name} has no segment header", "restore an earlier point in time")
    _magic, gen, first, count, previous, s0, s1 = _HEADER.unpack(data[:SEGMENT_HEADER_SIZE])
    return SegmentHeader(gen, first, count, previous, (s0, s1))


def plan_replay(
    refs: list[SegmentRef], start_generation: int, start_frame: int, to_time: float | None
) -> list[SegmentRef]:
    """The segments to replay onto a base taken at (generation, frame), up to ``to_time``."""
    chosen = sorted(
        (r for r in refs if to_time is None or r.at <= to_time), key=lambda r: (r.generation, r.first)
    )
    gen, expected = start_generation, start_frame + 1
    for ref in chosen:
        if ref.generation == gen and ref.first == expected:
            expected += ref.count
        elif ref.generation == gen + 1 and ref.first == 1:
            gen, expected = ref.generation, 1 + ref.count
        else:
            raise BackupError(
                f"WAL segment missing before {ref.name.rsplit('/', 1)[-1]}: expected generation "
                f"{gen} frame {expected} (or generation {gen + 1} frame 1)",
                "the backup folder lost a segment: restore a point in time before it, or a "
                "plain backup (`shipyard backup list`)",
            )
    return chosen
