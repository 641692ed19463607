"""The control plane's HTTP API (FastAPI): a thin translation to and from the engine.

Every route but /api/ping needs the bearer token. Errors use one JSON shape:
``{"ok": false, "error": ..., "hint": ..., "status": ...}``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from shipyard.engine.engine import Engine
from shipyard.errors import AuthError, ShipyardError


class DeployBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    env: str
    release: str | None = None
    requested_by: str = "cli"


class RollbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    env: str
    to: str | None = None
    requested_by: str = "cli"


class ActorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    requested_by: str = "cli"


def create_app(engine: Engine, token: str, on_shutdown: Callable[[], None]) -> FastAPI:
    app = FastAPI(title="Shipyard control plane", version="0.1.0", docs_url=None, redoc_url=None)
    store = engine.ctx.store

    def auth(request: Request) -> None:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not given or not hmac.compare_digest(given, token):
            raise AuthError(
                "missing or wrong API token",
                "send `Authorization: Bearer <token>`; the CLI reads it from <home>/token",
            )

    @app.exception_handler(ShipyardError)
    async def _shipyard_error(_req: Request, exc: ShipyardError) -> JSONResponse:
        return JSONResponse(exc.to_json(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_req: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        body = {
            "ok": False,
            "error": f"{where}: {first['msg']}",
            "hint": "see docs/cli.md for the request shape",
            "status": 422,
        }
        return JSONResponse(body, status_code=422)

    guarded = [Depends(auth)]

    @app.get("/api/ping")
    def ping() -> dict[str, Any]:
        return {"ok": True}

    @app.get("/api/status", dependencies=guarded)
    def status() -> dict[str, Any]:
        return engine.status()

    @app.post("/api/deploy", dependencies=guarded)
    def deploy(body: DeployBody) -> dict[str, Any]:
        dep_id = engine.deploy(body.env, body.requested_by, body.release)
        return {"ok": True, "deployment": dep_id}

    @app.post("/api/rollback", dependencies=guarded)
    def rollback(body: RollbackBody) -> dict[str, Any]:
        dep_id = engine.rollback(body.env, body.requested_by, body.to)
        return {"ok": True, "deployment": dep_id}

    @app.get("/api/deployments", dependencies=guarded)
    def deployments(env: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        return [d.to_json() for d in store.deployments(env, limit)]

    @app.get("/api/deployments/{dep_id}", dependencies=guarded)
    def deployment(dep_id: int) -> dict[str, Any]:
        return store.deployment(dep_id).to_json()

    @app.get("/api/deployments/{dep_id}/events", dependencies=guarded)
    def events(dep_id: int, after: int = 0) -> dict[str, Any]:
        dep = store.deployment(dep_id)
        return {
            "status": dep.status,
            "error": dep.error,
            "hint": dep.hint,
            "release": dep.release_id,
            "events": store.events(dep_id, after),
        }

    @app.get("/api/deployments/{dep_id}/samples", dependencies=guarded)
    def samples(dep_id: int, after: int = 0) -> dict[str, Any]:
        store.deployment(dep_id)
        return {"samples": store.samples(dep_id, after), "rollout": store.rollout(dep_id)}

    @app.get("/api/rollouts/{env}", dependencies=guarded)
    def rollout_status(env: str) -> dict[str, Any]:
        return engine.rollout_status(env)

    @app.post("/api/rollouts/{env}/retry", dependencies=guarded)
    def rollout_retry(env: str, body: ActorBody) -> dict[str, Any]:
        return {"ok": True, "deployment": engine.rollout_retry(env, body.requested_by)}

    @app.post("/api/rollouts/{env}/{verb}", dependencies=guarded)
    def rollout_verb(env: str, verb: str, body: ActorBody) -> dict[str, Any]:
        return {"ok": True, **engine.rollout_verb(env, verb, body.requested_by)}

    @app.get("/api/releases", dependencies=guarded)
    def releases() -> list[dict[str, Any]]:
        return [{k: v for k, v in vars(r).items() if k != "manifest"} for r in store.releases()]

    @app.post("/api/locks/{env}/break", dependencies=guarded)
    def break_lock(env: str) -> dict[str, Any]:
        return {"ok": True, **engine.break_lock(env)}

    @app.post("/api/shutdown", dependencies=guarded)
    def shutdown(stop_apps: bool = True) -> dict[str, Any]:
        if stop_apps:
            engine.shutdown()
        on_shutdown()
        return {"ok": True}

    return app
