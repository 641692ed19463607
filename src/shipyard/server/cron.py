"""The routes of scheduled jobs (``jobs:`` in shipyard.yaml): list, history, one run, run now.

``register_cron(app, engine)`` is called by ``server/api.py``. Reading needs ``read`` on the
environment; ``POST /api/cron/{env}/{job}/run`` needs ``deploy`` (it runs the release's code
with its secrets), allowed and audited before it runs (``act``), and answers ``202`` with the
run as it starts. Thin: the engine's ``CronScheduler`` does the work.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Path, Query, Request

from shipyard.core.access import Principal
from shipyard.engine.cron.scheduler import CronScheduler
from shipyard.engine.engine import Engine
from shipyard.errors import ConflictError
from shipyard.schemas.common import ENV_PATTERN, MAX_ID
from shipyard.schemas.cron import CronJobs, CronRuns, CronRunShown
from shipyard.server.auth import Who, act
from shipyard.server.params import EnvPath, Limit

JobName = Annotated[str, Path(pattern=ENV_PATTERN, max_length=40, description="a scheduled job's name")]
RunPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a scheduled job's run id")]
JobQuery = Annotated[
    str | None, Query(pattern=ENV_PATTERN, max_length=40, description="only this scheduled job's runs")
]


def register_cron(app: FastAPI, engine: Engine) -> None:
    access = engine.access

    def scheduler() -> CronScheduler:
        if engine.cron is None:
            raise ConflictError("this control plane runs no scheduled jobs", "see <home>/server.log")
        return engine.cron

    @app.get("/api/cron/{env}")
    def list_jobs(env: EnvPath, who: Who) -> CronJobs:
        access.read(who, env)
        return CronJobs.model_validate({"jobs": scheduler().jobs(env)})

    @app.get("/api/cron/{env}/runs")
    def history(env: EnvPath, who: Who, job: JobQuery = None, limit: Limit = 20) -> CronRuns:
        access.read(who, env)
        runs = scheduler().history(env, job, limit)
        return CronRuns.model_validate({"runs": [r.to_json() for r in runs]})

    @app.get("/api/cron/{env}/runs/{run_id}")
    def show_run(env: EnvPath, run_id: RunPath, who: Who) -> CronRunShown:
        access.read(who, env)
        return CronRunShown.model_validate(scheduler().run(env, run_id).to_json())

    @app.post("/api/cron/{env}/{job}/run", status_code=202)
    def run_now(env: EnvPath, job: JobName, request: Request, who: Who) -> CronRunShown:
        user: Principal = who
        run = act(
            request, user, "deploy", "cron.run", env, job, lambda: scheduler().run_now(env, job, user.user)
        )
        return CronRunShown.model_validate(run.to_json())
