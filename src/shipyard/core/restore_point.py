"""Which backup a restore uses and which point in time it reaches: pure decisions.

A restore without ``--backup`` and ``--to-time`` goes to the newest point any good backup
reaches: a continuous backup's window end (everything committed by then was shipped), or the
moment a snapshot was taken; a newer snapshot never hides a continuous window that goes
further. ``--to-time`` picks the continuous window holding that moment; a moment at or after
the newest window's end restores to that end (there is nothing later to restore) and says
so, rather than refusing. ``describe`` is the line the CLI and the restore record show.
Used by ``engine/data/restore_points.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shipyard.core.backups import utc


@dataclass(frozen=True)
class Reach:
    """What one good backup can restore: from ``start`` to ``end`` (a snapshot: one moment)."""

    id: str
    start: float
    end: float
    continuous: bool


@dataclass(frozen=True)
class Choice:
    """The backup to restore and up to when: ``to_time`` None replays everything shipped."""

    id: str
    to_time: float | None
    newest: bool  # restores the newest point the backup reaches (its window's end)
    asked: float | None  # the --to-time asked, if any
    continuous: bool = True


def choose(reaches: Sequence[Reach], to_time: float | None) -> Choice | None:
    """The backup (``reaches`` oldest first) a restore to ``to_time`` uses; None: outside
    every window (before the first, or between two), which the caller refuses."""
    if not reaches:
        return None
    if to_time is None:
        best = max(reversed(reaches), key=lambda r: r.end)  # ties: the newer backup
        return Choice(best.id, None, True, None, best.continuous)
    windows = [r for r in reaches if r.continuous]
    for reach in reversed(windows):
        if reach.start <= to_time < reach.end:
            return Choice(reach.id, to_time, False, to_time)
    if not windows:
        return None
    last = max(reversed(windows), key=lambda r: r.end)
    if to_time >= last.end:
        return Choice(last.id, None, True, to_time)
    return None


def describe(choice: Choice, at: float, position: str) -> str:
    """The point reached, in words: ``at`` (a time) and ``position`` (a WAL segment, an LSN)."""
    where = f"{utc(at)} ({position})" if position else utc(at)
    if not choice.continuous:
        return f"restored the snapshot taken at {where}"
    if not choice.newest:
        return f"restored to {where}, as asked"
    if choice.asked is not None:
        return (
            f"restored to the end of the recoverable window, {where}: --to-time {utc(choice.asked)} "
            "is at or after it, and nothing later was shipped"
        )
    return f"restored to the newest point shipped (the end of the recoverable window), {where}"
