"""API routes of the maintenance page (``register_maintenance``; ``shipyard maintenance``).

Reading the page's state needs ``read`` on the environment; turning it on or off needs
``deploy`` (it takes the environment out of service as a deployment does) and is audited before
it acts, through ``act`` (``server/auth.py``).
"""

from fastapi import FastAPI, Request

from shipyard.engine.engine import Engine
from shipyard.schemas import delivery as s
from shipyard.server.auth import Who, act
from shipyard.server.params import EnvPath


def register_maintenance(app: FastAPI, engine: Engine) -> None:
    pages = engine.maintenance

    @app.get("/api/maintenance/{env}")
    def maintenance_state(env: EnvPath, who: Who) -> s.MaintenanceState:
        engine.access.read(who, env)
        return s.MaintenanceState.model_validate(pages.describe(env))

    @app.post("/api/maintenance/{env}/on")
    def maintenance_on(
        env: EnvPath, body: s.MaintenanceBody, request: Request, who: Who
    ) -> s.MaintenanceState:
        target = ", ".join(["on", *(f"allow {net}" for net in body.allow)])[:200]
        run = lambda: pages.on(env, who.user, body.message, body.allow)  # noqa: E731
        return s.MaintenanceState.model_validate(
            act(request, who, "deploy", "maintenance.on", env, target, run)
        )

    @app.post("/api/maintenance/{env}/off")
    def maintenance_off(env: EnvPath, request: Request, who: Who) -> s.MaintenanceState:
        run = lambda: pages.off(env)  # noqa: E731
        return s.MaintenanceState.model_validate(
            act(request, who, "deploy", "maintenance.off", env, "off", run)
        )
