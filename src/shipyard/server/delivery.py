"""API routes for promotion, approvals and configuration (``register_delivery`` adds them).

``create_app`` calls ``register_delivery``; the routes take the token's user (``Who``) and run
mutating actions through ``act`` (``server/auth.py``), so they follow the same rules as the
others: reads need the ``read`` permission on the environment, promotion needs ``deploy``,
approving and rejecting need ``approve`` (and the four-eyes rule of ``core/approval.py``), and
every mutating route is audited before it acts.
"""

from typing import Any, TypeVar

from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

from shipyard.engine.config import diff, show
from shipyard.engine.engine import Engine
from shipyard.server.auth import Who, act

T = TypeVar("T")


class PromoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str
    release: str | None = None


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


def register_delivery(app: FastAPI, engine: Engine) -> None:
    store = engine.ctx.store
    access = engine.access

    @app.post("/api/promote")
    def promote(body: PromoteBody, request: Request, who: Who) -> dict[str, Any]:
        dep_id = act(
            request,
            who,
            "deploy",
            "promote",
            body.to,
            body.release or "release of the previous environment",
            lambda: engine.promote(body.release, body.to, who.user),
        )
        return {"ok": True, "deployment": dep_id, "status": store.deployment(dep_id).status}

    @app.post("/api/deployments/{dep_id}/approve")
    def approve(dep_id: int, request: Request, who: Who) -> dict[str, Any]:
        env = store.deployment(dep_id).env
        act(
            request,
            who,
            "approve",
            "approve",
            env,
            str(dep_id),
            lambda: engine.approvals.approve(who, dep_id),
        )
        return {"ok": True, "deployment": dep_id}

    @app.post("/api/deployments/{dep_id}/reject")
    def reject(dep_id: int, body: RejectBody, request: Request, who: Who) -> dict[str, Any]:
        env = store.deployment(dep_id).env
        act(
            request,
            who,
            "approve",
            "reject",
            env,
            f"{dep_id}: {body.reason}",
            lambda: engine.approvals.reject(who, dep_id, body.reason),
        )
        return {"ok": True, "deployment": dep_id}

    @app.get("/api/approvals")
    def approvals(who: Who) -> list[dict[str, Any]]:
        return [vars(r) for r in store.approvals.waiting() if who.may("read", r.env)]

    @app.get("/api/config/{env}")
    def config_show(env: str, who: Who) -> dict[str, Any]:
        access.read(who, env)
        engine.ctx.reload_manifest()
        return show(engine.ctx, env)

    @app.get("/api/config/{a}/diff/{b}")
    def config_diff(a: str, b: str, who: Who) -> dict[str, Any]:
        access.read(who, a)
        access.read(who, b)
        engine.ctx.reload_manifest()
        return diff(engine.ctx, a, b)
