"""The API's gate: who is asking and how large the body is, decided before a byte of it is read.

``create_app`` wraps the app in ``Gate`` (a plain ASGI middleware). FastAPI reads and parses a
request's body before it resolves the route's dependencies, so a token checked as a dependency
comes too late: a 100 MB unauthenticated POST would be read first. Here the bearer token is
resolved to a user (kept in the request's state for ``server/auth.py``'s ``principal``) and the
declared Content-Length is held against the route's limit before the route runs; a body sent
without a length (chunked) is counted as it streams and refused when it passes the limit.
A request refused for want of a valid token is in the audit log (``api.auth``, ``denied``, by
``-``, never the token), one entry per client address a minute with the count of the others.
The dashboard's pages (``server/dashboard/paths.py``) pass without a token: each checks its
session cookie itself; their bodies are held to the same limits. A token the access service
remembers is resolved on the event loop; only the others (a new token, or one whose last use is
due to be written) take a trip to a worker thread.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from shipyard.core.access import Principal
from shipyard.core.secret_limits import MAX_IMPORT_FILE
from shipyard.errors import AuthError, ShipyardError, TooLargeError
from shipyard.server.dashboard.paths import is_page

if TYPE_CHECKING:
    from shipyard.engine.engine import Engine

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PUBLIC = frozenset({"/api/ping", "/health"})  # probes: no token, no body
HOOKS = "/api/hooks/"  # git hosts' push events: no token, their signature authenticates them
MiB = 1024 * 1024
DEFAULT_LIMIT = 1 * MiB
# Routes that take more than the default: a whole secrets file in one import (its values as
# JSON, escapes included; the vault then holds them to its own limits, core/secret_limits.py).
LIMITS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"^/api/vault/[^/]+/import$"), 2 * MAX_IMPORT_FILE),
    (re.compile(r"^/api/hooks/[a-z]+$"), 5 * MiB),  # a push event of many commits
)


def is_public(path: str) -> bool:
    """A path that takes no token: the probes, and the hooks (``server/triggers.py`` checks their
    signature before it believes a byte)."""
    return path in PUBLIC or path.startswith(HOOKS)


def body_limit(path: str) -> int:
    """The largest body ``path`` accepts, in bytes."""
    return next((size for pattern, size in LIMITS if pattern.match(path)), DEFAULT_LIMIT)


def too_large(size: str, limit: int) -> TooLargeError:
    return TooLargeError(
        f"the request's body is {size}, more than the {limit // 1024} KiB this route accepts",
        "send less in one request (a secrets import takes up to 2 MiB)",
    )


def bearer(headers: dict[bytes, bytes]) -> str:
    given = headers.get(b"authorization", b"").decode("latin-1")
    token = given.removeprefix("Bearer ").strip()
    if not token:
        raise AuthError(
            "missing API token",
            "send `Authorization: Bearer <token>`; the CLI reads $SHIPYARD_TOKEN or <home>/token",
        )
    return token


def declared_length(headers: dict[bytes, bytes]) -> int | None:
    raw = headers.get(b"content-length")
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise TooLargeError(
            f"the Content-Length {raw[:30].decode('latin-1')!r} is not a size this server accepts",
            "send the body's length in bytes as a decimal number",
        )
    return int(raw)


class Gate:
    """Authenticate, then hold the body to its limit, before the app sees the request."""

    def __init__(self, app: ASGIApp, engine: Engine) -> None:
        self.app = app
        self.engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        limit = body_limit(scope["path"])
        try:
            if not is_public(scope["path"]) and not is_page(scope["path"]):  # a page: its session
                scope.setdefault("state", {})["principal"] = await self.who(bearer(headers))
            length = declared_length(headers)
            if length is not None and length > limit:
                raise too_large(f"{length} bytes", limit)
        except ShipyardError as exc:
            if isinstance(exc, AuthError):
                await self.refused(scope, exc)
            # answered without reading the body; the server closes the connection after it
            await JSONResponse(exc.to_json(), status_code=exc.status)(scope, receive, send)
            return
        await self.app(scope, counted(receive, limit), send)

    async def refused(self, scope: Scope, exc: AuthError) -> None:
        """The audit log's entry for a request refused for want of a valid token (counted per
        client address, so a flood of bad tokens writes one entry a minute: ``core/refusals.py``)."""
        client = scope.get("client")
        source = str(client[0]) if client else ""
        target = f"{scope.get('method', '')} {scope['path'][:200]}"
        await run_in_threadpool(self.engine.access.refused, source, target, exc.message, time.monotonic())

    async def who(self, token: str) -> Principal:
        access = self.engine.access
        known = access.remembered(token)
        return known if known is not None else await run_in_threadpool(access.authenticate, token)


def counted(receive: Receive, limit: int) -> Receive:
    """``receive`` that refuses a body once more than ``limit`` bytes of it have arrived."""
    seen = 0

    async def receive_counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                exc = too_large(f"more than {limit} bytes", limit)
                # an HTTPException passes through FastAPI's body parsing untouched
                raise HTTPException(exc.status, detail=exc.message)
        return message

    return receive_counted
