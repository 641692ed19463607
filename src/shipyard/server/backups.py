"""API routes of database backups and migrations: a thin translation to the engine.

Reading the catalog needs ``read`` on the environment; creating and verifying a backup and
running migrations need ``deploy``; a restore replaces data, so it needs ``admin`` on the
environment restored into (and ``read`` on the one the backup comes from). A backup, a
verification, a restore and ``migrate up|down`` run as jobs (``server/jobs.py``): the route
answers ``202`` with the job at once. ``migrate status|plan`` run a release's command with the
environment's secrets, so they are POSTs that need ``deploy`` too, are audited under the
caller's name, and plan only a release that may reach the environment
(``engine/data/migrations.py``). Every mutating route goes through the API's ``act``: allowed and
audited before it runs, its failure audited after. Bodies and answers are ``schemas/data.py``'s;
a job's result is the model its CLI command decodes. Registered by ``server/api.py``.
"""

from typing import Any, Literal

from fastapi import FastAPI, Request

from shipyard.core.access import Principal
from shipyard.core.jobs import Progress
from shipyard.engine.engine import Engine
from shipyard.schemas import data as d
from shipyard.server.auth import Who, act, client_source
from shipyard.server.jobs import start_job
from shipyard.server.params import EnvPath

Direction = Literal["up", "down"]  # engine/data/migrations.py DIRECTIONS: only these reach the audit log


def register_backup_routes(app: FastAPI, engine: Engine) -> None:
    backups = engine.backups

    @app.get("/api/backups/{env}")
    def list_backups(env: EnvPath, who: Who) -> d.Catalog:
        return catalog(engine, who, env)

    @app.post("/api/backups/{env}", status_code=202, response_model=d.JobStarted)
    def create_backup(env: EnvPath, body: d.CreateBody, request: Request, who: Who) -> d.JobStarted:
        def run(progress: Progress) -> dict[str, Any]:
            record = backups.create(env, "manual", body.reason or f"by {who.user}", progress)
            return {"backup": record.to_json()}

        return start_job(
            request, who, "deploy", "backup.create", env, body.reason or "manual",
            {"reason": body.reason}, run,
        )  # fmt: skip

    @app.post("/api/backups/{env}/verify", status_code=202, response_model=d.JobStarted)
    def verify_backup(env: EnvPath, body: d.VerifyBody, request: Request, who: Who) -> d.JobStarted:
        return start_verify(engine, request, who, env, body)

    @app.post("/api/backups/{env}/restore", status_code=202, response_model=d.JobStarted)
    def restore_backup(env: EnvPath, body: d.RestoreBody, request: Request, who: Who) -> d.JobStarted:
        return start_restore(engine, request, who, env, body)

    @app.post("/api/migrations/{env}/status")
    def migration_status(env: EnvPath, request: Request, who: Who) -> d.MigrationStatus:
        found = act(
            request, who, "deploy", "migrate.status", env, "serving release",
            lambda: engine.migrations.status(env, who.user),
        )  # fmt: skip
        return d.MigrationStatus.model_validate(found)

    @app.post("/api/migrations/{env}/plan")
    def migration_plan(env: EnvPath, body: d.PlanBody, request: Request, who: Who) -> d.MigrationPlan:
        found = act(
            request, who, "deploy", "migrate.plan", env, body.release or "newest that may reach it",
            lambda: engine.migrations.plan(env, body.release, who.user),
        )  # fmt: skip
        return d.MigrationPlan.model_validate(found)

    @app.post("/api/migrations/{env}/{direction}", status_code=202, response_model=d.JobStarted)
    def migrate(env: EnvPath, direction: Direction, request: Request, who: Who) -> d.JobStarted:
        return start_job(
            request, who, "deploy", f"migrate.{direction}", env, "", {"direction": direction},
            lambda progress: engine.migrations.run(env, direction, who.user, progress),
        )  # fmt: skip


def catalog(engine: Engine, who: Principal, env: str) -> d.Catalog:
    """``env``'s backups, newest first, and its continuous shipping (``read`` on ``env``)."""
    engine.access.read(who, env)
    shipper = engine.backup_scheduler.shippers.get(env)
    shipping = None
    if shipper is not None:
        shipping = d.Shipping(
            base=shipper.base_id, last_shipped_at=shipper.last_shipped_at, errors=shipper.errors[-3:]
        )
    rows = engine.backups.list_with_windows(env)
    return d.Catalog.model_validate({"env": env, "backups": rows, "continuous": shipping})


def start_verify(
    engine: Engine, request: Request, who: Principal, env: str, body: d.VerifyBody
) -> d.JobStarted:
    """Verify a backup (the newest without one named) as a job: ``deploy`` on ``env``, audited."""

    def run(progress: Progress) -> dict[str, Any]:
        record = engine.backups.verify(env, body.backup, progress)
        check = record.verification
        progress(
            f"{record.id}: " + (f"verified: {check.detail}" if check and check.ok else "FAILED verification")
        )
        return {"backup": record.to_json()}

    return start_job(
        request, who, "deploy", "backup.verify", env, body.backup or "newest", {"backup": body.backup}, run
    )


def start_restore(
    engine: Engine, request: Request, who: Principal, env: str, body: d.RestoreBody
) -> d.JobStarted:
    """Restore a backup of ``env`` (into ``body.target``, masked or not) as a job: ``admin`` on the
    environment restored into and ``read`` on ``env``, both audited."""
    action = "backup.restore.masked" if body.mask else "backup.restore"
    # read on the source environment: a refusal is audited
    engine.access.allow(who, "read", action, env=env, source=client_source(request))
    target = body.target or env

    def run(progress: Progress) -> dict[str, Any]:
        if body.mask:
            return engine.masked_copies.restore(
                env, who.user, body.target, body.backup, body.to_time, progress
            )
        return engine.backups.restore(env, who.user, body.backup, target, body.to_time, progress=progress)

    args = {"from": env, "backup": body.backup, "to_time": body.to_time, "mask": body.mask}
    return start_job(request, who, "admin", action, target, f"{env}/{body.backup or 'newest'}", args, run)
