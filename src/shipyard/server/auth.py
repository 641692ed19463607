"""Who is asking: the bearer token of a request resolved to a user, for every API route.

``server/api.py`` and the route modules beside it take ``Who`` as a FastAPI dependency.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from shipyard.core.access import Principal
from shipyard.errors import AuthError

if TYPE_CHECKING:
    from shipyard.engine.engine import Engine


def principal(request: Request) -> Principal:
    """The user behind the request's bearer token (every route but /api/ping needs one)."""
    given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not given:
        raise AuthError(
            "missing API token",
            "send `Authorization: Bearer <token>`; the CLI reads $SHIPYARD_TOKEN or <home>/token",
        )
    engine: Engine = request.app.state.engine
    return engine.access.authenticate(given)


def client_source(request: Request) -> str:
    """Where a request came from, as the audit log records it."""
    return request.client.host if request.client else ""


Who = Annotated[Principal, Depends(principal)]
