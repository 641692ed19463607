"""API routes of the edge's certificates (``register_certs``; ``shipyard certs list|renew``).

Listing shows the environments the caller may read; a renewal needs ``deploy`` on the
environment (it changes what HAProxy serves, as a deployment does) and is audited before it acts.
"""

from fastapi import FastAPI, Request

from shipyard.engine.engine import Engine
from shipyard.schemas import certs as c
from shipyard.server.auth import Who, act
from shipyard.server.params import EnvPath


def register_certs(app: FastAPI, engine: Engine) -> None:
    certs = engine.certs

    @app.get("/api/certs")
    def certs_list(who: Who) -> c.Certificates:
        rows = certs.listing(who.readable_envs(engine.access.envs()))
        return c.Certificates(certificates=[c.Certificate.model_validate(r) for r in rows])

    @app.post("/api/certs/{env}/renew")
    def certs_renew(env: EnvPath, request: Request, who: Who) -> c.Certificate:
        run = lambda: certs.renew(env)  # noqa: E731
        return c.Certificate.model_validate(act(request, who, "deploy", "certs.renew", env, "renew", run))
