"""The control plane's HTTP API (FastAPI): a thin translation to and from the engine.

Every route but /api/ping and /health needs a bearer token, which names a user
(``server/gate.py`` checks it before the body is read; ``/openapi.json`` too); the user's
roles decide what the route may do (``engine/trust/access.py``), and every mutating route is
audited before it acts. Bodies and answers are the models of ``shipyard.schemas``; errors use
one JSON shape, ``{"ok": false, "error", "hint", "status", "kind"}`` (``server/answers.py``).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from shipyard.core.access import Principal
from shipyard.core.records import Deployment
from shipyard.engine.engine import Engine
from shipyard.schemas import deployments as d
from shipyard.schemas import identity as i
from shipyard.schemas.common import ErrorBody, Ok
from shipyard.server.answers import install_handlers
from shipyard.server.apps import register_apps
from shipyard.server.auth import Who, act, client_source
from shipyard.server.backups import register_backup_routes
from shipyard.server.certs import register_certs
from shipyard.server.cron import register_cron
from shipyard.server.dashboard.routes import register_dashboard
from shipyard.server.delivery import register_delivery
from shipyard.server.drill import register_drill_routes
from shipyard.server.gate import Gate
from shipyard.server.jobs import register_job_routes
from shipyard.server.logs import register_logs
from shipyard.server.maintenance import register_maintenance
from shipyard.server.nodes import register_nodes
from shipyard.server.observe import register_observe
from shipyard.server.params import Cursor, EnvPath, Filter, IdPath, Limit, TokenPath, UserPath
from shipyard.server.pipeline import register_pipeline_routes
from shipyard.server.scale import register_scale
from shipyard.server.secrets import register_secrets
from shipyard.server.triggers import register_trigger_routes


def create_app(engine: Engine, on_shutdown: Callable[[], None]) -> FastAPI:
    app = FastAPI(
        title="Shipyard control plane",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served below, behind a token
        responses={"default": {"model": ErrorBody, "description": "an error, in the one error shape"}},
        # Shipyard serves its own Prometheus metrics; FastAPI's OpenTelemetry hooks would look up
        # the global providers on every request for nothing
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.engine = engine
    install_handlers(app)
    app.add_middleware(Gate, engine=engine)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(_who: Who) -> JSONResponse:
        """The OpenAPI document, for any valid token (the gate refuses requests without one)."""
        return JSONResponse(app.openapi())

    @app.get("/api/ping")
    def ping() -> Ok:
        return Ok()

    register_secrets(app, engine)  # first: a secret read, the most frequent call, is matched first
    register_deployments(app, engine, on_shutdown)
    register_identity(app, engine)
    register_delivery(app, engine)
    register_maintenance(app, engine)
    register_scale(app, engine)
    register_nodes(app, engine)
    register_backup_routes(app, engine)
    register_drill_routes(app, engine)
    register_job_routes(app, engine)
    register_pipeline_routes(app, engine)
    register_trigger_routes(app, engine)
    register_logs(app, engine)
    register_observe(app, engine)
    register_cron(app, engine)
    register_certs(app, engine)
    register_apps(app, engine)
    register_dashboard(app, engine)  # last: the pages at / and below
    return app


def register_deployments(app: FastAPI, engine: Engine, on_shutdown: Callable[[], None]) -> None:
    history = engine.history
    access = engine.access

    @app.get("/api/status")
    def status(who: Who) -> d.Status:
        data = engine.status()
        readable = who.readable_envs(list(data["environments"]))
        if not readable:
            access.read(who)  # raises: no environment is readable
        data["environments"] = {e: v for e, v in data["environments"].items() if e in readable}
        return d.Status.model_validate(data)

    @app.post("/api/deploy")
    def deploy(body: d.DeployBody, request: Request, who: Who) -> d.Started:
        target = body.release or "new release"
        run = lambda: engine.deploy(body.env, who.user, body.release)  # noqa: E731
        return d.Started(deployment=act(request, who, "deploy", "deploy", body.env, target, run))

    @app.post("/api/rollback")
    def rollback(body: d.RollbackBody, request: Request, who: Who) -> d.Started:
        target = body.to or "previous release"
        run = lambda: engine.rollback(body.env, who.user, body.to)  # noqa: E731
        return d.Started(deployment=act(request, who, "deploy", "rollback", body.env, target, run))

    @app.get("/api/deployments")
    def deployments(who: Who, env: Filter = None, limit: Limit = 20) -> list[d.Deployment]:
        env = env or None  # the CLI sends "" for every environment
        if env is not None:
            access.read(who, env)
        shown = [dep for dep in history.deployments(env, limit) if who.may("read", dep.env)]
        return [d.Deployment.model_validate(dep.to_json()) for dep in shown]

    def readable(dep_id: int, who: Principal) -> Deployment:
        dep = history.deployment(dep_id)
        access.read(who, dep.env)
        return dep

    @app.get("/api/deployments/{dep_id}")
    def deployment(dep_id: IdPath, who: Who) -> d.Deployment:
        return d.Deployment.model_validate(readable(dep_id, who).to_json())

    @app.get("/api/deployments/{dep_id}/events")
    def events(dep_id: IdPath, who: Who, after: Cursor = 0) -> d.Events:
        dep = readable(dep_id, who)
        return d.Events(
            status=dep.status,
            error=dep.error,
            hint=dep.hint,
            release=dep.release_id,
            events=[d.Event.model_validate(e) for e in history.events(dep_id, after)],
        )

    @app.get("/api/deployments/{dep_id}/samples")
    def samples(dep_id: IdPath, who: Who, after: Cursor = 0) -> d.Samples:
        readable(dep_id, who)
        return d.Samples.model_validate(history.figures(dep_id, after))

    @app.get("/api/rollouts/{env}")
    def rollout_status(env: EnvPath, who: Who) -> d.RolloutStatus:
        access.read(who, env)
        return d.RolloutStatus.model_validate(engine.rollout_status(env))

    @app.post("/api/rollouts/{env}/retry")
    def rollout_retry(env: EnvPath, request: Request, who: Who) -> d.Started:
        run = lambda: engine.rollout_retry(env, who.user)  # noqa: E731
        return d.Started(deployment=act(request, who, "deploy", "rollout.retry", env, "", run))

    @app.post("/api/rollouts/{env}/{verb}")
    def rollout_verb(env: EnvPath, verb: d.RolloutVerb, request: Request, who: Who) -> d.VerbDone:
        run = lambda: engine.rollout_verb(env, verb, who.user)  # noqa: E731
        return d.VerbDone.model_validate(act(request, who, "deploy", f"rollout.{verb}", env, "", run))

    @app.get("/api/releases")
    def releases(who: Who) -> list[d.Release]:
        if not who.readable_envs(access.envs()):
            access.read(who)
        return [d.Release.model_validate(access.release_view(who, r)) for r in history.releases()]

    @app.post("/api/locks/{env}/break")
    def break_lock(env: EnvPath, request: Request, who: Who) -> d.LockBroken:
        broken = act(request, who, "lock", "lock.break", env, "", lambda: engine.break_lock(env))
        return d.LockBroken.model_validate(broken)

    @app.post("/api/shutdown")
    def shutdown(request: Request, who: Who, stop_apps: bool = True) -> Ok:
        def run() -> None:
            if stop_apps:
                engine.shutdown()
                if (apps := getattr(request.app.state, "apps", None)) is not None:
                    apps.close(stop_apps=True)  # the registered apps and the shared edge
            on_shutdown()

        act(request, who, "admin", "shutdown", None, "apps" if stop_apps else "control plane", run)
        return Ok()


def register_identity(app: FastAPI, engine: Engine) -> None:
    directory = engine.directory
    access = engine.access
    source = client_source

    @app.get("/api/whoami")
    def whoami(who: Who) -> i.WhoAmI:
        grants = [i.Grant(role=g.role, env=g.env) for g in who.grants]
        return i.WhoAmI(user=who.user, token_id=who.token_id, grants=grants)

    @app.get("/api/users")
    def users(request: Request, who: Who) -> list[i.User]:
        access.allow(who, "admin", "users.list", source=source(request))
        return [i.User.model_validate(u) for u in directory.users()]

    @app.post("/api/users")
    def add_user(body: i.UserBody, request: Request, who: Who) -> i.NewUser:
        return i.NewUser.model_validate(access.add_user(who, body.name, body.role, body.env, source(request)))

    @app.post("/api/users/{name}/grants")
    def grant(name: UserPath, body: i.GrantBody, request: Request, who: Who) -> i.Changed:
        return i.Changed(changed=access.grant(who, name, body.role, body.env, source(request)))

    @app.post("/api/users/{name}/revoke")
    def revoke(name: UserPath, body: i.GrantBody, request: Request, who: Who) -> i.Changed:
        return i.Changed(changed=access.revoke(who, name, body.role, body.env, source(request)))

    @app.post("/api/users/{name}/disable")
    def disable(name: UserPath, request: Request, who: Who) -> i.Disabled:
        return i.Disabled(tokens_revoked=access.disable(who, name, source(request)))

    @app.post("/api/users/{name}/tokens")
    def add_token(name: UserPath, body: i.TokenBody, request: Request, who: Who) -> i.NewToken:
        made = access.new_token(who, name, body.label or "created by hand", source(request))
        return i.NewToken.model_validate(made)

    @app.post("/api/tokens/{tid}/revoke")
    def revoke_token(tid: TokenPath, request: Request, who: Who) -> i.TokenRevoked:
        return i.TokenRevoked(user=access.revoke_token(who, tid, source(request)))

    @app.get("/api/audit")
    def audit(
        request: Request, who: Who, actor: Filter = None, env: Filter = None, limit: Limit = 100
    ) -> i.AuditEntries:
        access.allow(who, "admin", "audit.list", source=source(request))
        entries = directory.audit(actor=actor, env=env)
        return i.AuditEntries(entries=[i.AuditEntry.model_validate(vars(e)) for e in entries[-limit:]])

    @app.get("/api/audit/verify")
    def audit_verify(request: Request, who: Who) -> i.ChainReport:
        access.allow(who, "admin", "audit.verify", source=source(request))
        return i.ChainReport.model_validate(vars(directory.check_audit()))
