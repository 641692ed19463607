"""API route of the runtime's nodes (``register_nodes``; ``shipyard nodes``).

Nodes carry every environment's instances, so listing them needs ``read`` on every
environment (as the central logs do).
"""

from fastapi import FastAPI

from shipyard.engine.engine import Engine
from shipyard.schemas import delivery as s
from shipyard.server.auth import Who


def register_nodes(app: FastAPI, engine: Engine) -> None:
    @app.get("/api/nodes")
    def nodes(who: Who) -> s.Nodes:
        engine.access.read(who)
        return s.Nodes.model_validate(engine.nodes())
