"""Point-in-time recovery of SQLite: a base snapshot plus its WAL segments up to a time.

``replay`` applies, onto a verified copy of a continuous backup's base snapshot, the
segments ``core.segments.plan_replay`` picks (in order, without a gap), checking each
segment's header against its name and the WAL checksum chain from one segment to the next,
so a missing, reordered or damaged segment stops the restore, and says how far it got.
``recoverable_range`` is the window a continuous backup covers: from its base to the newest
of its last segment and its ``wal/head.json`` (the shipper's "everything committed up to
here is shipped", written each tick). Called by ``engine/data/backups.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

from shipyard.core.backups import BackupRecord
from shipyard.core.segments import (
    SEGMENT_HEADER_SIZE,
    SegmentRef,
    head_name,
    parse_segment,
    plan_replay,
    position,
    unpack_header,
)
from shipyard.drivers.data.backup_crypto import BackupKey
from shipyard.drivers.data.backup_pipeline import fetch_bytes
from shipyard.drivers.data.interface import BackupStorage
from shipyard.drivers.data.sqlite.wal import HEADER_SIZE, Checksum, apply_frames, check_frames, parse_header
from shipyard.errors import BackupError, NotFoundError

_HINT = "the segment is damaged: restore an earlier point in time"


def segments_of(storage: BackupStorage, record: BackupRecord) -> list[SegmentRef]:
    found = (parse_segment(o.name) for o in storage.list(f"{record.env}/{record.id}/wal/"))
    return [ref for ref in found if ref is not None]


def recoverable_range(storage: BackupStorage, key: BackupKey, record: BackupRecord) -> tuple[float, float]:
    start = record.recoverable_from or record.started_at
    head = head_at(storage, key, record)  # before the listing: the segments it vouches for are listed
    return start, max([start, head, *(r.at for r in segments_of(storage, record))])


def head_at(storage: BackupStorage, key: BackupKey, record: BackupRecord) -> float:
    """The moment up to which the shipper had shipped every commit (0 when it wrote none)."""
    try:
        return float(json.loads(fetch_bytes(storage, key, head_name(record.env, record.id)))["at"])
    except NotFoundError:
        return 0.0


def replay(
    storage: BackupStorage, key: BackupKey, record: BackupRecord, copy: Path, to_time: float | None
) -> tuple[float, str]:
    """Apply the segments up to ``to_time`` (all when None) onto ``copy``; the point reached:
    ``to_time``, or when None the moment up to which everything was shipped, and the last
    segment applied."""
    shipped = head_at(storage, key, record)  # before the listing, as in recoverable_range
    refs = segments_of(storage, record)
    plan = plan_replay(refs, record.wal_generation, record.wal_frame, to_time)
    chain: Checksum | None = None
    frames = record.wal_frame
    for ref in plan:
        data = fetch_bytes(storage, key, ref.name)
        head = unpack_header(data, ref.name)
        if (head.generation, head.first, head.count) != (ref.generation, ref.first, ref.count):
            raise BackupError(f"WAL segment {ref.name} does not hold what its name says", _HINT)
        wal = parse_header(data[SEGMENT_HEADER_SIZE : SEGMENT_HEADER_SIZE + HEADER_SIZE])
        if wal is None:
            raise BackupError(f"WAL segment {ref.name} has no valid WAL header", _HINT)
        if head.first == 1:
            if head.previous_end != frames and chain is not None:
                raise BackupError(
                    f"WAL generation {head.generation} starts after frame {head.previous_end} of the "
                    f"previous one, but only {frames} were shipped: a segment is missing",
                    "restore a point in time before it",
                )
        elif chain is not None and head.seed != chain:
            raise BackupError(f"WAL segment {ref.name} does not continue the one before it", _HINT)
        chain = check_frames(data[SEGMENT_HEADER_SIZE + HEADER_SIZE :], wal, head.seed)
        apply_frames(copy, wal.page_size, data[SEGMENT_HEADER_SIZE + HEADER_SIZE :])
        frames = head.first + head.count - 1
    start = record.recoverable_from or record.started_at
    at = to_time if to_time is not None else max([start, shipped, *(r.at for r in refs)])
    return at, position(plan[-1] if plan else None)
