"""API routes of autoscaling (``register_scale``; ``shipyard scale``).

Reading an environment's count and its decisions needs ``read`` on it; pinning a count, or
returning to automatic, needs ``deploy`` (it changes what serves, as a deployment does) and is
audited before it acts, through ``act`` (``server/auth.py``).
"""

from fastapi import FastAPI, Request

from shipyard.engine.engine import Engine
from shipyard.schemas import scale as s
from shipyard.server.auth import Who, act
from shipyard.server.params import EnvPath, Limit


def register_scale(app: FastAPI, engine: Engine) -> None:
    @app.get("/api/scale/{env}")
    def scale_state(env: EnvPath, who: Who) -> s.ScaleState:
        engine.access.read(who, env)
        return s.ScaleState.model_validate(engine.scale.describe(env))

    @app.get("/api/scale/{env}/history")
    def scale_history(env: EnvPath, who: Who, limit: Limit = 50) -> list[s.ScaleDecision]:
        engine.access.read(who, env)
        return [s.ScaleDecision.model_validate(row) for row in engine.scale.history(env, limit)]

    @app.post("/api/scale/{env}")
    def scale_pin(env: EnvPath, body: s.ScaleBody, request: Request, who: Who) -> s.ScaleState:
        target = f"pin {body.count}" if body.count is not None else "auto"
        run = lambda: engine.scale.pin(env, body.count, who.user)  # noqa: E731
        return s.ScaleState.model_validate(act(request, who, "deploy", "scale", env, target, run))
