"""The API's answers about scheduled jobs (``/api/cron``): the jobs of an environment, the
history of their runs, one run. Served by ``server/cron.py``, decoded by ``cli/cron.py``."""

from __future__ import annotations

from shipyard.schemas.common import Answer


class CronRunShown(Answer):
    id: int
    env: str
    job: str
    release_id: str
    trigger: str  # schedule, missed, manual
    requested_by: str
    scheduled_at: float | None
    started_at: float
    finished_at: float | None
    status: str  # running, succeeded, failed, timed_out, interrupted
    exit_code: int | None
    output: str  # the last lines of its output


class CronJobShown(Answer):
    name: str
    schedule: str
    timeout: float
    concurrency: str
    next_at: float
    running: int
    last: CronRunShown | None


class CronJobs(Answer):
    jobs: list[CronJobShown]


class CronRuns(Answer):
    runs: list[CronRunShown]
