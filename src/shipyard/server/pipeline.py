"""API routes of pipelines and delivery figures: a thin translation to the engine.

Running a release's pipeline needs ``deploy`` on the pipeline's environment
(``pipeline.environment``, else the first of the promotion path or of the environments): it
is allowed and audited before it runs, and runs as a job (``202`` with the job; its result
``PipelineDone``, its failure the failed stage's message). Reading runs needs ``read`` on
that environment; ``GET /api/stats/{env}`` (``shipyard stats``) needs ``read`` on ``env``.
A trigger (a git push, a webhook) will start a run through the same ``engine.pipelines.run``.
Registered by ``server/api.py``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request

from shipyard.core.jobs import Job as RunJob
from shipyard.core.jobs import Progress
from shipyard.engine.engine import Engine
from shipyard.errors import ShipyardError
from shipyard.schemas import pipeline as p
from shipyard.schemas.common import MAX_ID, MAX_SECONDS, RELEASE_PATTERN
from shipyard.schemas.data import Job, JobStarted
from shipyard.server.auth import Who, act, client_source
from shipyard.server.params import EnvPath, Limit

RunPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a pipeline run's id")]
ReleaseQuery = Annotated[str | None, Query(pattern=RELEASE_PATTERN, description="only this release's runs")]
SinceWindow = Annotated[
    float, Query(gt=0, le=MAX_SECONDS, allow_inf_nan=False, description="seconds back from now")
]
DAYS_30 = 30 * 86400.0


def register_pipeline_routes(app: FastAPI, engine: Engine) -> None:
    access, pipelines = engine.access, engine.pipelines

    @app.post("/api/pipelines", status_code=202, response_model=JobStarted)
    def run_pipeline(body: p.RunBody, request: Request, who: Who) -> JobStarted:
        env, source = pipelines.env(), client_source(request)

        def run(progress: Progress) -> dict[str, Any]:
            return pipelines.run(body.release, who.user, "api", progress)

        def failed(exc: ShipyardError) -> None:
            access.failed(who, "pipeline.run", env, exc, source)

        def submit() -> RunJob:
            pipelines.check_runnable(body.release)
            return engine.jobs.submit("pipeline.run", env, {"release": body.release}, who.user, run, failed)

        job = act(request, who, "deploy", "pipeline.run", env, body.release, submit)
        return JobStarted(job=Job.model_validate(job.to_json()))

    @app.get("/api/pipelines")
    def list_runs(who: Who, release: ReleaseQuery = None, limit: Limit = 20) -> p.PipelineRuns:
        access.read(who, pipelines.env())
        runs = [r for r in pipelines.runs(limit, release) if who.may("read", r["env"])]
        return p.PipelineRuns.model_validate({"runs": runs})

    @app.get("/api/pipelines/{run_id}")
    def show_run(run_id: RunPath, who: Who) -> p.PipelineRun:
        access.read(who, pipelines.env())
        run = pipelines.show(run_id)
        access.read(who, run["env"])
        return p.PipelineRun.model_validate(run)

    @app.get("/api/stats/{env}")
    def stats(env: EnvPath, who: Who, since: SinceWindow = DAYS_30) -> p.DeliveryStats:
        access.read(who, env)
        return engine.figures.figures(env, since)
