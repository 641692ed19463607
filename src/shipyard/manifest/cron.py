"""The manifest's ``jobs:``: commands of the serving release run on a cron schedule.

Scheduled by ``engine/cron/scheduler.py`` (the name ``cron`` keeps them apart from the
control plane's own long operations, ``core/jobs.py``). Imported by ``models.py``, which
checks that a job's ``environments`` exist.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from shipyard.core.cron import check_job_schedule
from shipyard.manifest.base import Model
from shipyard.manifest.checks import Duration, Name


class CronJob(Model):
    command: str = Field(
        min_length=1,
        description="Shell command run as a one-off of the serving release, with its configuration and "
        "secrets, in its app folder.",
    )
    schedule: str = Field(
        description="Cron expression in UTC: 5 fields (`0 3 * * *`), or 6 with seconds last "
        "(`* * * * * */10`: every 10 seconds)."
    )
    timeout: Duration = Field(3600.0, gt=0, description="A run still going after this is killed (timed out).")
    environments: tuple[Name, ...] | None = Field(
        None, description="Environments the job runs in; unset: every environment."
    )
    concurrency: Literal["forbid", "allow"] = Field(
        "forbid",
        description="`forbid`: a fire time is skipped while a run is still going; `allow`: runs may overlap.",
    )
    starting_deadline: Duration | None = Field(
        None,
        gt=0,
        description="A fire time missed (the control plane was down) is run once at start only if it is "
        "at most this old; unset: always run once for the latest missed fire time.",
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_job_schedule(value)

    def runs_in(self, env: str) -> bool:
        return self.environments is None or env in self.environments
