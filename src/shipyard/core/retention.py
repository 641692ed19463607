"""Tiered retention: which backups to keep, as a pure function over the catalog.

The newest good backup of each hour is kept for ``hourly`` days, of each day for ``daily``
days, of each ISO week for ``weekly`` weeks and of each calendar month (UTC) for
``monthly`` months; the ``minimum`` newest good backups are always kept. Nothing a kept
backup needs is deleted: a backup that builds on another (``base``) keeps it, and so does
the recovery window (every backup whose recoverable range reaches into the window, plus
the newest one before it, from which the window's start is restored). The newest continuous
backup (the base the WAL segments are being shipped onto) is always kept. Manual backups and
the safety backups taken before a migration or a restore are kept for a day whatever the tiers say, and failed
attempts for a week so they stay visible. Called by the backup service after each backup;
tested with tables in ``tests/unit/test_retention.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from shipyard.core.backups import BackupRecord

DAY = 86400.0
FAILED_KEPT_S = 7 * DAY
SAFETY_KEPT_S = DAY
KEPT_A_DAY = ("manual", "pre-migrate", "pre-restore")  # asked for by someone, or a safety net


@dataclass(frozen=True)
class Policy:
    hourly_days: int = 2
    daily_days: int = 14
    weekly_weeks: int = 12
    monthly_months: int = 12
    minimum: int = 1
    window_s: float = 0.0


@dataclass(frozen=True)
class Decision:
    keep: dict[str, str]  # backup id -> why it is kept (the first reason found)
    delete: tuple[str, ...]


def _when(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


_TIERS: tuple[tuple[str, Callable[[Policy], float], Callable[[datetime], tuple[int, ...]]], ...] = (
    ("hourly", lambda p: p.hourly_days * DAY, lambda d: (d.year, d.month, d.day, d.hour)),
    ("daily", lambda p: p.daily_days * DAY, lambda d: (d.year, d.month, d.day)),
    ("weekly", lambda p: p.weekly_weeks * 7 * DAY, lambda d: tuple(d.isocalendar()[:2])),
    ("monthly", lambda p: p.monthly_months * 31 * DAY, lambda d: (d.year, d.month)),
)


def plan_retention(records: tuple[BackupRecord, ...], policy: Policy, now: float) -> Decision:
    """Which records to keep (and why) and which to delete, oldest first."""
    keep: dict[str, str] = {}
    good = sorted((r for r in records if r.status == "complete"), key=lambda r: r.started_at, reverse=True)
    for record in good[: policy.minimum]:
        keep.setdefault(record.id, f"one of the {policy.minimum} newest")
    live = [r for r in good if r.kind == "continuous"]
    if live:
        keep.setdefault(live[0].id, "base of the live WAL chain (continuous shipping)")
    for record in good:
        if record.kind in KEPT_A_DAY and now - record.started_at < SAFETY_KEPT_S:
            keep.setdefault(record.id, f"{record.kind} backup, kept a day")
    for tier, window, bucket in _TIERS:
        seen: set[tuple[int, ...]] = set()
        for record in good:
            if now - record.started_at >= window(policy):
                continue
            key = bucket(_when(record.started_at))
            if key not in seen:
                seen.add(key)
                keep.setdefault(record.id, f"{tier} {'-'.join(map(str, key))}")
    if policy.window_s > 0:
        start = now - policy.window_s
        for record in good:
            if (record.recoverable_to or record.finished_at) >= start:
                keep.setdefault(record.id, "inside the recovery window")
        before = [r for r in good if (r.recoverable_to or r.finished_at) < start]
        if before:
            keep.setdefault(before[0].id, "restores the start of the recovery window")
    by_id = {r.id: r for r in records}
    for backup_id in list(keep):
        base = by_id[backup_id].base
        while base is not None and base in by_id:
            keep.setdefault(base, f"base of {backup_id}")
            base = by_id[base].base
    for record in records:
        if record.status != "complete" and now - record.started_at < FAILED_KEPT_S:
            keep.setdefault(record.id, "failed attempt, kept a week for the record")
    doomed = tuple(r.id for r in sorted(records, key=lambda r: r.started_at) if r.id not in keep)
    return Decision(keep, doomed)
