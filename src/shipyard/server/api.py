"""The control plane's HTTP API (FastAPI): a thin translation to and from the engine.

Every route but /api/ping needs a bearer token, which names a user; the user's
roles decide what the route may do (``engine/access.py``), and every mutating
route is audited before it acts. Errors use one JSON shape:
``{"ok": false, "error": ..., "hint": ..., "status": ...}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from shipyard.core.access import Principal
from shipyard.core.audit import verify_chain
from shipyard.core.records import Deployment
from shipyard.core.rollout import VERBS
from shipyard.engine.engine import Engine
from shipyard.errors import NotFoundError, ShipyardError
from shipyard.server.auth import Who, act, client_source
from shipyard.server.backups import register_backup_routes
from shipyard.server.delivery import register_delivery
from shipyard.server.drill import register_drill_routes
from shipyard.server.jobs import register_job_routes
from shipyard.server.logs import register_logs
from shipyard.server.observe import register_observe
from shipyard.server.secrets import register_secrets

T = TypeVar("T")


class DeployBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    env: str
    release: str | None = None


class RollbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    env: str
    to: str | None = None


class UserBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    role: str
    env: str = "*"


class GrantBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str
    env: str = "*"


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = ""


def create_app(engine: Engine, on_shutdown: Callable[[], None]) -> FastAPI:
    app = FastAPI(title="Shipyard control plane", version="0.1.0", docs_url=None, redoc_url=None)
    app.state.engine = engine
    store = engine.ctx.store
    access = engine.access

    source = client_source

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

    @app.get("/api/ping")
    def ping() -> dict[str, Any]:
        return {"ok": True}

    @app.get("/api/whoami")
    def whoami(who: Who) -> dict[str, Any]:
        grants = [{"role": g.role, "env": g.env} for g in who.grants]
        return {"user": who.user, "token_id": who.token_id, "grants": grants}

    @app.get("/api/status")
    def status(who: Who) -> dict[str, Any]:
        data = engine.status()
        readable = who.readable_envs(list(data["environments"]))
        if not readable:
            access.read(who)  # raises: no environment is readable
        data["environments"] = {e: v for e, v in data["environments"].items() if e in readable}
        return data

    @app.post("/api/deploy")
    def deploy(body: DeployBody, request: Request, who: Who) -> dict[str, Any]:
        target = body.release or "new release"
        dep_id = act(
            request,
            who,
            "deploy",
            "deploy",
            body.env,
            target,
            lambda: engine.deploy(body.env, who.user, body.release),
        )
        return {"ok": True, "deployment": dep_id}

    @app.post("/api/rollback")
    def rollback(body: RollbackBody, request: Request, who: Who) -> dict[str, Any]:
        target = body.to or "previous release"
        dep_id = act(
            request,
            who,
            "deploy",
            "rollback",
            body.env,
            target,
            lambda: engine.rollback(body.env, who.user, body.to),
        )
        return {"ok": True, "deployment": dep_id}

    @app.get("/api/deployments")
    def deployments(who: Who, env: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        env = env or None  # the CLI sends "" for every environment
        if env is not None:
            access.read(who, env)
        return [d.to_json() for d in store.deployments(env, limit) if who.may("read", d.env)]

    def readable(dep_id: int, who: Principal) -> Deployment:
        dep = store.deployment(dep_id)
        access.read(who, dep.env)
        return dep

    @app.get("/api/deployments/{dep_id}")
    def deployment(dep_id: int, who: Who) -> dict[str, Any]:
        return readable(dep_id, who).to_json()

    @app.get("/api/deployments/{dep_id}/events")
    def events(dep_id: int, who: Who, after: int = 0) -> dict[str, Any]:
        dep = readable(dep_id, who)
        return {
            "status": dep.status,
            "error": dep.error,
            "hint": dep.hint,
            "release": dep.release_id,
            "events": store.events(dep_id, after),
        }

    @app.get("/api/deployments/{dep_id}/samples")
    def samples(dep_id: int, who: Who, after: int = 0) -> dict[str, Any]:
        readable(dep_id, who)
        return {"samples": store.samples(dep_id, after), "rollout": store.rollout(dep_id)}

    @app.get("/api/rollouts/{env}")
    def rollout_status(env: str, who: Who) -> dict[str, Any]:
        access.read(who, env)
        return engine.rollout_status(env)

    @app.post("/api/rollouts/{env}/retry")
    def rollout_retry(env: str, request: Request, who: Who) -> dict[str, Any]:
        dep = act(
            request, who, "deploy", "rollout.retry", env, "", lambda: engine.rollout_retry(env, who.user)
        )
        return {"ok": True, "deployment": dep}

    @app.post("/api/rollouts/{env}/{verb}")
    def rollout_verb(env: str, verb: str, request: Request, who: Who) -> dict[str, Any]:
        if verb not in VERBS:  # only known verbs reach the audit log's action names
            raise NotFoundError(f"no rollout verb {verb!r}", f"use one of: retry, {', '.join(VERBS)}")
        done = act(
            request,
            who,
            "deploy",
            f"rollout.{verb}",
            env,
            "",
            lambda: engine.rollout_verb(env, verb, who.user),
        )
        return {"ok": True, **done}

    @app.get("/api/releases")
    def releases(who: Who) -> list[dict[str, Any]]:
        if not who.readable_envs(access.envs()):
            access.read(who)
        return [access.release_view(who, r) for r in store.releases()]

    @app.post("/api/locks/{env}/break")
    def break_lock(env: str, request: Request, who: Who) -> dict[str, Any]:
        return {
            "ok": True,
            **act(request, who, "lock", "lock.break", env, "", lambda: engine.break_lock(env)),
        }

    @app.post("/api/shutdown")
    def shutdown(request: Request, who: Who, stop_apps: bool = True) -> dict[str, Any]:
        def run() -> None:
            if stop_apps:
                engine.shutdown()
            on_shutdown()

        act(request, who, "admin", "shutdown", None, "apps" if stop_apps else "control plane", run)
        return {"ok": True}

    # users, tokens, audit -------------------------------------------------------------------
    @app.get("/api/users")
    def users(request: Request, who: Who) -> list[dict[str, Any]]:
        access.allow(who, "admin", "users.list", source=source(request))
        return store.identity.users()

    @app.post("/api/users")
    def add_user(body: UserBody, request: Request, who: Who) -> dict[str, Any]:
        return {"ok": True, **access.add_user(who, body.name, body.role, body.env, source(request))}

    @app.post("/api/users/{name}/grants")
    def grant(name: str, body: GrantBody, request: Request, who: Who) -> dict[str, Any]:
        return {"ok": True, "changed": access.grant(who, name, body.role, body.env, source(request))}

    @app.post("/api/users/{name}/revoke")
    def revoke(name: str, body: GrantBody, request: Request, who: Who) -> dict[str, Any]:
        return {"ok": True, "changed": access.revoke(who, name, body.role, body.env, source(request))}

    @app.post("/api/users/{name}/disable")
    def disable(name: str, request: Request, who: Who) -> dict[str, Any]:
        return {"ok": True, "tokens_revoked": access.disable(who, name, source(request))}

    @app.post("/api/users/{name}/tokens")
    def add_token(name: str, body: TokenBody, request: Request, who: Who) -> dict[str, Any]:
        return {"ok": True, **access.new_token(who, name, body.label or "created by hand", source(request))}

    @app.post("/api/tokens/{tid}/revoke")
    def revoke_token(tid: str, request: Request, who: Who) -> dict[str, Any]:
        return {"ok": True, "user": access.revoke_token(who, tid, source(request))}

    @app.get("/api/audit")
    def audit(
        request: Request, who: Who, actor: str | None = None, env: str | None = None, limit: int = 100
    ) -> dict[str, Any]:
        access.allow(who, "admin", "audit.list", source=source(request))
        entries = store.audit.entries(actor=actor, env=env)
        return {"entries": [vars(e) for e in entries[-limit:]]}

    @app.get("/api/audit/verify")
    def audit_verify(request: Request, who: Who) -> dict[str, Any]:
        access.allow(who, "admin", "audit.verify", source=source(request))
        return vars(verify_chain(store.audit.entries()))

    register_secrets(app, engine)
    register_delivery(app, engine)
    register_backup_routes(app, engine)
    register_drill_routes(app, engine)
    register_job_routes(app, engine)
    register_logs(app, engine)
    register_observe(app, engine)
    return app
