"""API routes of jobs, and how a route starts one: a thin translation to the engine's job runner.

A route that starts a long operation (a backup, a verification, a restore, a drill, a
migration by hand) calls ``start_job``: the action is allowed and audited before the job is
recorded (``act``), the API answers ``202`` with the job at once (``schemas/data.py``
``JobStarted``; the route declares ``status_code=202``), and a failure of the job is audited
when it fails. Reading a job (``GET /api/jobs/{id}``, with its progress lines after ``after``)
or the list (``GET /api/jobs?env=``) needs ``read`` on the job's environment. Registered by
``server/api.py``; ``start_job`` is called by ``server/backups.py`` and ``server/drill.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request

from shipyard.core.access import Principal
from shipyard.core.jobs import Progress
from shipyard.engine.engine import Engine
from shipyard.errors import ShipyardError
from shipyard.schemas import data as d
from shipyard.server.auth import Who, act, client_source
from shipyard.server.params import Cursor, EnvQuery, JobPath, Limit


def start_job(
    request: Request,
    who: Principal,
    permission: str,
    action: str,
    env: str,
    target: str,
    args: dict[str, Any],
    operation: Callable[[Progress], dict[str, Any]],
) -> d.JobStarted:
    """Allow and audit ``action``, then run ``operation(progress)`` as a job of that kind on ``env``."""
    engine: Engine = request.app.state.engine
    source = client_source(request)

    def failed(exc: ShipyardError) -> None:
        engine.access.failed(who, action, env, exc, source)

    job = act(
        request, who, permission, action, env, target,
        lambda: engine.jobs.submit(action, env, args, who.user, operation, failed),
    )  # fmt: skip
    return d.JobStarted(job=d.Job.model_validate(job.to_json()))


def register_job_routes(app: FastAPI, engine: Engine) -> None:
    access = engine.access

    @app.get("/api/jobs")
    def list_jobs(who: Who, env: EnvQuery = None, limit: Limit = 20) -> d.JobList:
        if env is not None:
            access.read(who, env)
        elif not who.readable_envs(access.envs()):
            access.read(who)  # raises: no environment is readable
        jobs = [j.to_json() for j in engine.jobs.recent(env, limit) if who.may("read", j.env)]
        return d.JobList.model_validate({"jobs": jobs})

    @app.get("/api/jobs/{job_id}")
    def show_job(job_id: JobPath, who: Who, after: Cursor = 0) -> d.JobShown:
        job = engine.jobs.get(job_id)
        access.read(who, job.env)
        return d.JobShown.model_validate(
            {"job": job.to_json(), "progress": engine.jobs.progress(job_id, after)}
        )
