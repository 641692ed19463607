"""Scheduled jobs of the serving release (the manifest's ``jobs:``): their runs and the pure
decisions the cron scheduler (``engine/cron/scheduler.py``) takes with them.

Not to be confused with ``core/jobs.py`` (long operations such as backups, run on request).
A run is due when the job's schedule fired after the last fire time it ran for: at most one run
for however many fire times passed (a control plane that was down, a busy tick), the latest,
unless that one is older than the job's ``starting_deadline`` (Kubernetes CronJob's rule).
``forbid`` skips a fire time while a run of the job is still going.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from shipyard.core.cron import latest_at_or_before, next_after

RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
TIMED_OUT = "timed_out"
INTERRUPTED = "interrupted"  # the control plane stopped during the run
FAILURES = (FAILED, TIMED_OUT)  # an interrupted run is not the job's failure

Trigger = Literal["schedule", "missed", "manual"]


@dataclass(frozen=True)
class CronRun:
    """One run of a job: what ran, why, when, and how it ended (its output's last lines)."""

    id: int
    env: str
    job: str
    release_id: str
    trigger: str  # schedule, missed (run at start for a fire time missed while down), manual
    requested_by: str
    scheduled_at: float | None  # the fire time it ran for; None for a manual run
    started_at: float
    finished_at: float | None
    status: str
    exit_code: int | None
    output: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CronRun:
        return cls(**row)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def due_fire_time(schedule: str, last_fired: float, now: float) -> float | None:
    """The fire time to act on now: the latest in (``last_fired``, ``now``]; None when the
    schedule has not fired since ``last_fired``."""
    if next_after(schedule, last_fired) > now:
        return None
    return latest_at_or_before(schedule, now)


def too_late(fire: float, now: float, starting_deadline: float | None) -> bool:
    """Whether a fire time is past the job's ``starting_deadline`` (it is skipped, not run)."""
    return starting_deadline is not None and now - fire > starting_deadline


def may_start(concurrency: str, running: int) -> bool:
    """``forbid``: one run of a job at a time; ``allow``: any number."""
    return concurrency == "allow" or running == 0


def outcome(exit_code: int | None) -> str:
    """A finished run's status from its exit code (None: killed at its timeout)."""
    if exit_code is None:
        return TIMED_OUT
    return SUCCEEDED if exit_code == 0 else FAILED


def failing(latest: dict[str, CronRun]) -> int:
    """How many jobs' latest finished run failed (the ``cron_failing`` metric)."""
    return sum(1 for run in latest.values() if run.status in FAILURES)
