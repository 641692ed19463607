"""Cron expressions (5 fields, UTC) for backup and restore-test schedules, via croniter.

Pure: ``check_cron`` validates a manifest value, ``due`` decides whether a schedule has
fired between the last run and now. Called by the manifest models and the backup scheduler.
Scheduled jobs (``jobs:``) also take a 6th field, seconds (croniter's), checked by
``check_job_schedule``, and ask for the latest fire time (``latest_at_or_before``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from croniter import croniter


def check_cron(expression: str) -> str:
    """``expression`` if it is a valid 5-field cron expression, else ``ValueError`` saying why."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"schedule {expression!r} has {len(fields)} fields: write 5 (minute hour day month weekday), "
            "such as '0 * * * *' for hourly"
        )
    if not croniter.is_valid(expression):
        raise ValueError(f"schedule {expression!r} is not a valid cron expression, such as '0 3 * * *'")
    return expression


def check_job_schedule(expression: str) -> str:
    """``expression`` if it is a valid cron expression of 5 fields, or 6 with seconds last."""
    fields = expression.split()
    if len(fields) == 6:
        if not croniter.is_valid(expression):
            raise ValueError(
                f"schedule {expression!r} is not a valid cron expression; with 6 fields the last is "
                "seconds, such as '* * * * * */10' for every 10 seconds"
            )
        return expression
    return check_cron(expression)


def latest_at_or_before(expression: str, now: float) -> float:
    """The latest time (epoch seconds, UTC) at or before ``now`` at which the schedule fired."""
    start = datetime.fromtimestamp(now + 0.001, UTC)
    return float(croniter(expression, start).get_prev(float))


def next_after(expression: str, after: float) -> float:
    """The first time (epoch seconds, UTC) strictly after ``after`` at which the schedule fires."""
    start = datetime.fromtimestamp(after, UTC)
    return float(croniter(expression, start).get_next(float))


def due(expression: str, last_run: float, now: float) -> bool:
    """True when the schedule fired at least once after ``last_run`` and by ``now``."""
    return next_after(expression, last_run) <= now
