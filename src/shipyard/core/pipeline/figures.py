"""Delivery figures (the DORA measures) of an environment over a window. Pure.

From the environment's deployments, ``shipyard stats`` and the alert rules' metrics
(``engine/pipeline/figures.py``) get:

- **deployment frequency**: changes (``deploy`` and ``promote``) that succeeded, per day;
- **success rate**: of the changes that ended in the window, the share that succeeded
  (approval requests rejected or expired are not counted: nothing was tried);
- **lead time for changes**: from the commit (or, without git metadata, the release's
  creation: ``lead_time_from`` says which) to the end of the successful deployment; median;
- **change failure rate**: of the changes that went live (traffic reached them: a
  ``switch`` or ``rollout`` step), the share that failed or rolled back after that, or
  that a later ``rollback`` of the environment took back before the next change;
- **time to restore**: from each such failure to the next succeeded deployment of the
  environment (a rollback counts); median. A failure not restored yet is counted apart.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

DAY = 86400.0
CHANGES = ("deploy", "promote")
NOT_TRIED = ("rejected", "expired", "waiting_approval", "running")


@dataclass(frozen=True)
class Delivery:
    """One deployment as the figures read it."""

    id: int
    kind: str
    status: str
    release: str | None
    from_release: str | None
    started_at: float
    finished_at: float | None
    went_live: bool  # traffic reached the release (a switch or rollout step began)
    committed_at: float | None = None  # the release's commit time, when the app was a git checkout
    created_at: float | None = None  # the release's creation time


@dataclass(frozen=True)
class Figures:
    env: str
    since: float
    until: float
    changes: int
    succeeded: int
    per_day: float
    success_rate: float | None
    lead_time: float | None
    lead_time_from: str  # "commit", "release creation", "commit and release creation" or "none"
    went_live: int
    change_failures: int
    change_failure_rate: float | None
    restored: int
    time_to_restore: float | None
    unrestored: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _lead_times(done: Sequence[Delivery]) -> tuple[list[float], str]:
    times, sources = [], set()
    for dep in done:
        start = dep.committed_at if dep.committed_at is not None else dep.created_at
        if start is None or dep.finished_at is None:
            continue
        sources.add("commit" if dep.committed_at is not None else "release creation")
        times.append(max(0.0, dep.finished_at - start))
    return times, " and ".join(sorted(sources)) or "none"


def _failed_live(deps: Sequence[Delivery]) -> list[tuple[Delivery, float]]:
    """The changes that failed after going live, each with the time it failed (``deps`` oldest first)."""
    found = []
    for i, dep in enumerate(deps):
        if dep.kind not in CHANGES or not dep.went_live:
            continue
        if dep.status in ("failed", "rolled_back"):
            found.append((dep, dep.finished_at or dep.started_at))
            continue
        for later in deps[i + 1 :]:
            if later.kind in CHANGES:
                break
            if later.kind == "rollback" and later.from_release == dep.release:
                found.append((dep, later.started_at))
                break
    return found


def compute(env: str, deps: Sequence[Delivery], since: float, until: float) -> Figures:
    """The figures of ``env`` for the deployments that started in [since, until)."""
    ordered = sorted(deps, key=lambda d: (d.started_at, d.id))
    window = [d for d in ordered if since <= d.started_at < until]
    changes = [d for d in window if d.kind in CHANGES and d.status not in NOT_TRIED]
    succeeded = [d for d in changes if d.status == "succeeded"]
    lead, lead_from = _lead_times(succeeded)
    live = [d for d in changes if d.went_live]
    failures = [(d, at) for d, at in _failed_live(ordered) if since <= d.started_at < until]
    restore_times, unrestored = [], 0
    for _dep, failed_at in failures:
        good = [
            d.finished_at
            for d in ordered
            if d.status == "succeeded" and d.finished_at is not None and d.finished_at > failed_at
        ]
        if good:
            restore_times.append(min(good) - failed_at)
        else:
            unrestored += 1
    days = max((until - since) / DAY, 1e-9)
    return Figures(
        env=env,
        since=since,
        until=until,
        changes=len(changes),
        succeeded=len(succeeded),
        per_day=len(succeeded) / days,
        success_rate=len(succeeded) / len(changes) if changes else None,
        lead_time=_median(lead),
        lead_time_from=lead_from,
        went_live=len(live),
        change_failures=len(failures),
        change_failure_rate=len(failures) / len(live) if live else None,
        restored=len(restore_times),
        time_to_restore=_median(restore_times),
        unrestored=unrestored,
    )
