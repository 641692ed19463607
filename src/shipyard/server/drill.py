"""API routes of disaster-recovery drills: a thin translation to the engine.

Listing an environment's drills needs ``read`` on it; running one writes a marker row into
the live database and restores into a scratch folder, so it needs ``deploy`` (like a
backup's verification), is allowed and audited before it runs, and runs as a job
(``server/jobs.py``: the route answers ``202`` with the job at once; its result is
``schemas/data.py`` ``DrillDone``). Registered by ``server/api.py``.
"""

from typing import Any

from fastapi import FastAPI, Request

from shipyard.core.access import Principal
from shipyard.core.jobs import Progress
from shipyard.engine.engine import Engine
from shipyard.schemas import data as d
from shipyard.server.auth import Who
from shipyard.server.jobs import start_job
from shipyard.server.params import EnvPath


def register_drill_routes(app: FastAPI, engine: Engine) -> None:

    @app.get("/api/drills/{env}")
    def list_drills(env: EnvPath, who: Who) -> d.DrillList:
        return drills_of(engine, who, env)

    @app.post("/api/drills/{env}", status_code=202, response_model=d.JobStarted)
    def run_drill(env: EnvPath, request: Request, who: Who) -> d.JobStarted:
        return start_drill(engine, request, who, env)


def drills_of(engine: Engine, who: Principal, env: str) -> d.DrillList:
    """``env``'s drills, newest first, for a reader of ``env`` (the API and the backups page)."""
    engine.access.read(who, env)
    drills = engine.drills.history(env)
    return d.DrillList.model_validate({"env": env, "drills": [r.to_json() for r in reversed(drills)]})


def start_drill(engine: Engine, request: Request, who: Principal, env: str) -> d.JobStarted:
    """A drill of ``env`` as a job: ``deploy`` on ``env``, allowed and audited before it runs."""

    def run(progress: Progress) -> dict[str, Any]:
        return {"drill": engine.drills.run(env, who.user, progress=progress).to_json()}

    return start_job(request, who, "deploy", "drill.run", env, "disaster-recovery drill", {}, run)
