"""API routes of disaster-recovery drills: a thin translation to the engine.

Listing an environment's drills needs ``read`` on it; running one writes a marker row into
the live database and restores into a scratch folder, so it needs ``deploy`` (like a
backup's verification) and goes through the API's ``act`` (allowed and audited before it
runs). Registered by ``server/api.py``.
"""

# No `from __future__ import annotations`: FastAPI must see `Who` when the routes are defined.

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request

from shipyard.core.access import Principal
from shipyard.engine.engine import Engine
from shipyard.server.backups import Act


def register_drill_routes(
    app: FastAPI, engine: Engine, act: Act, principal: Callable[[Request], Principal]
) -> None:
    Who = Annotated[Principal, Depends(principal)]

    @app.get("/api/drills/{env}")
    def list_drills(env: str, who: Who) -> dict[str, Any]:
        engine.access.read(who, env)
        drills = engine.drills.history(env)
        return {"env": env, "drills": [d.to_json() for d in reversed(drills)]}

    @app.post("/api/drills/{env}")
    def run_drill(env: str, request: Request, who: Who) -> dict[str, Any]:
        record = act(
            request, who, "deploy", "drill.run", env, "disaster-recovery drill",
            lambda: engine.drills.run(env, who.user),
        )  # fmt: skip
        return {"ok": True, "drill": record.to_json()}
