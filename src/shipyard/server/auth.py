"""Who is asking: the bearer token of a request resolved to a user, for every API route.

``server/api.py`` and the route modules beside it take ``Who`` as a FastAPI dependency, and
run each mutating action through ``act`` (decided and audited before it runs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from shipyard.core.access import Principal
from shipyard.errors import AuthError

if TYPE_CHECKING:
    from shipyard.engine.engine import Engine


def principal(request: Request) -> Principal:
    """The user behind the request's bearer token (every route but /api/ping needs one).

    ``server/gate.py`` resolved it before the body was read; this reads what it found."""
    found = gated(request)
    return found if found is not None else authenticate(request)


def gated(request: Request) -> Principal | None:
    """The user the gate found for this request, if it ran."""
    found = getattr(request.state, "principal", None)
    return found if isinstance(found, Principal) else None


def authenticate(request: Request) -> Principal:
    """The request's bearer token resolved by the access service (a database read)."""
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


async def who_asks(request: Request) -> Principal:
    """``principal`` as a dependency: on the event loop, as the gate already named the user (a
    sync dependency would cost every request a trip to a worker thread and back)."""
    found = gated(request)
    return found if found is not None else await run_in_threadpool(authenticate, request)


Who = Annotated[Principal, Depends(who_asks)]
T = TypeVar("T")


def act(
    request: Request,
    who: Principal,
    permission: str,
    action: str,
    env: str | None,
    target: str,
    run: Callable[[], T],
) -> T:
    """An audited action: allowed and recorded first, any failure (a bug too) recorded after."""
    engine: Engine = request.app.state.engine
    source = client_source(request)
    with engine.access.audited(who, permission, action, env=env, target=target, source=source):
        return run()
