"""API routes for promotion, approvals and configuration (``register_delivery`` adds them).

``create_app`` calls ``register_delivery``; the routes take the token's user (``Who``) and run
mutating actions through ``act`` (``server/auth.py``), so they follow the same rules as the
others: reads need the ``read`` permission on the environment, promotion needs ``deploy``,
approving and rejecting need ``approve`` (and the four-eyes rule of ``core/approval.py``), and
every mutating route is audited before it acts.
"""

from fastapi import FastAPI, Request

from shipyard.engine.engine import Engine
from shipyard.schemas import delivery as s
from shipyard.schemas.deployments import Started
from shipyard.server.auth import Who, act
from shipyard.server.params import EnvPath, IdPath


def register_delivery(app: FastAPI, engine: Engine) -> None:
    history = engine.history
    access = engine.access

    @app.post("/api/promote")
    def promote(body: s.PromoteBody, request: Request, who: Who) -> s.Promoted:
        dep_id = act(
            request,
            who,
            "deploy",
            "promote",
            body.to,
            body.release or "release of the previous environment",
            lambda: engine.promote(body.release, body.to, who.user),
        )
        return s.Promoted(deployment=dep_id, status=history.deployment(dep_id).status)

    @app.post("/api/deployments/{dep_id}/approve")
    def approve(dep_id: IdPath, request: Request, who: Who) -> Started:
        env = history.deployment(dep_id).env
        act(
            request,
            who,
            "approve",
            "approve",
            env,
            str(dep_id),
            lambda: engine.approvals.approve(who, dep_id),
        )
        return Started(deployment=dep_id)

    @app.post("/api/deployments/{dep_id}/reject")
    def reject(dep_id: IdPath, body: s.RejectBody, request: Request, who: Who) -> Started:
        env = history.deployment(dep_id).env
        act(
            request,
            who,
            "approve",
            "reject",
            env,
            f"{dep_id}: {body.reason}",
            lambda: engine.approvals.reject(who, dep_id, body.reason),
        )
        return Started(deployment=dep_id)

    @app.get("/api/approvals")
    def approvals(who: Who) -> list[s.Approval]:
        waiting = [r for r in history.waiting_approval() if who.may("read", r.env)]
        return [s.Approval.model_validate(vars(r)) for r in waiting]

    @app.get("/api/config/{env}")
    def config_show(env: EnvPath, who: Who) -> s.ConfigShown:
        access.read(who, env)
        return s.ConfigShown.model_validate(engine.config.show(env))

    @app.get("/api/config/{a}/diff/{b}")
    def config_diff(a: EnvPath, b: EnvPath, who: Who) -> s.ConfigDiff:
        access.read(who, a)
        access.read(who, b)
        return s.ConfigDiff.model_validate(engine.config.diff(a, b))
