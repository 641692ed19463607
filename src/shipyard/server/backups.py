"""API routes of database backups and migrations: a thin translation to the engine.

Reading the catalog needs ``read`` on the environment; creating and verifying a backup and
running migrations need ``deploy``; a restore replaces data, so it needs ``admin`` on the
environment restored into (and ``read`` on the one the backup comes from). Every mutating
route goes through the API's ``act``: allowed and audited before it runs, its failure
audited after. Registered by ``server/api.py``.
"""

from typing import Any, TypeVar

from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict

from shipyard.engine.engine import Engine
from shipyard.engine.migrations import DIRECTIONS
from shipyard.errors import NotFoundError
from shipyard.server.auth import Who, act, client_source

T = TypeVar("T")


class CreateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = ""


class VerifyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    backup: str | None = None


class RestoreBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    backup: str | None = None
    target: str | None = None
    to_time: float | None = None
    mask: bool = False


def register_backup_routes(app: FastAPI, engine: Engine) -> None:
    backups = engine.backups
    access = engine.access

    @app.get("/api/backups/{env}")
    def list_backups(env: str, who: Who) -> dict[str, Any]:
        access.read(who, env)
        shipper = engine.backup_scheduler.shippers.get(env)
        shipping = None
        if shipper is not None:
            shipping = {
                "base": shipper.base_id,
                "last_shipped_at": shipper.last_shipped_at,
                "errors": shipper.errors[-3:],
            }
        return {"env": env, "backups": backups.list_with_windows(env), "continuous": shipping}

    @app.post("/api/backups/{env}")
    def create_backup(env: str, body: CreateBody, request: Request, who: Who) -> dict[str, Any]:
        record = act(
            request, who, "deploy", "backup.create", env, body.reason or "manual",
            lambda: backups.create(env, "manual", body.reason or f"by {who.user}"),
        )  # fmt: skip
        return {"ok": True, "backup": record.to_json()}

    @app.post("/api/backups/{env}/verify")
    def verify_backup(env: str, body: VerifyBody, request: Request, who: Who) -> dict[str, Any]:
        record = act(
            request, who, "deploy", "backup.verify", env, body.backup or "newest",
            lambda: backups.verify(env, body.backup),
        )  # fmt: skip
        return {"ok": True, "backup": record.to_json()}

    @app.post("/api/backups/{env}/restore")
    def restore_backup(env: str, body: RestoreBody, request: Request, who: Who) -> dict[str, Any]:
        action = "backup.restore.masked" if body.mask else "backup.restore"
        access.allow(
            who, "read", action, env=env, source=client_source(request)
        )  # the source: refusal audited
        target = body.target or env
        done = act(
            request, who, "admin", action, target,
            f"{env}/{body.backup or 'newest'}",
            lambda: engine.masked_copies.restore(env, who.user, body.target, body.backup, body.to_time)
            if body.mask else backups.restore(env, who.user, body.backup, target, body.to_time),
        )  # fmt: skip
        return {"ok": True, **done}

    @app.get("/api/migrations/{env}")
    def migration_status(env: str, who: Who) -> dict[str, Any]:
        access.read(who, env)
        return engine.migrations.status(env)

    @app.get("/api/migrations/{env}/plan")
    def migration_plan(env: str, who: Who, release: str | None = None) -> dict[str, Any]:
        access.read(who, env)
        return engine.migrations.plan(env, release)

    @app.post("/api/migrations/{env}/{direction}")
    def migrate(env: str, direction: str, request: Request, who: Who) -> dict[str, Any]:
        if direction not in DIRECTIONS:  # only known directions reach the audit log's action names
            raise NotFoundError(f"unknown migration direction {direction!r}", "use up or down")
        done = act(
            request, who, "deploy", f"migrate.{direction}", env, "",
            lambda: engine.migrations.run(env, direction, who.user),
        )  # fmt: skip
        return {"ok": True, **done}
