"""How a dashboard request is served: the signed-in visitor, forms with their CSRF token, pages.

``server/dashboard/routes.py`` wraps every page in ``signed_in`` and every action in
``action``. A request without a live session is sent to the login page; a form whose CSRF
token is not the session's is refused (403) before anything runs; a ``ShipyardError`` raised by
the engine (a role that may not, a release that does not exist) is shown as an error page with
its hint and its status. Every answer carries a strict Content-Security-Policy (scripts only
from Shipyard's own ``/static``) and is never cached.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, quote

from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from shipyard.core.access import Principal
from shipyard.errors import AuthError, ForbiddenError, InputError, ShipyardError
from shipyard.server.dashboard.sessions import Session, Sessions, csrf_matches

if TYPE_CHECKING:
    from shipyard.engine.engine import Engine

M = TypeVar("M", bound=BaseModel)
COOKIE = "sy_session"
HERE = Path(__file__).parent
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@dataclass(frozen=True)
class Visitor:
    """The signed-in user of a request: their session (CSRF token) and who they are."""

    session: Session
    who: Principal

    @property
    def user(self) -> str:
        return self.who.user


class Dashboard:
    """What every page needs: the engine, the sessions and the templates (one per app)."""

    def __init__(self, engine: Engine, sessions: Sessions | None = None) -> None:
        self.engine = engine
        self.sessions = sessions or Sessions()
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.filters["when"] = when

    async def visitor(self, request: Request) -> Visitor | None:
        session = self.sessions.get(request.cookies.get(COOKIE, ""))
        if session is None:
            return None
        try:
            who = await self.principal(session.token)
        except AuthError:  # the token was revoked or its user disabled since login
            self.sessions.drop(request.cookies.get(COOKIE, ""))
            return None
        return Visitor(session, who)

    async def principal(self, token: str) -> Principal:
        access = self.engine.access
        known = access.remembered(token)
        return known if known is not None else await run_in_threadpool(access.authenticate, token)

    def render(
        self, request: Request, name: str, visitor: Visitor | None, status: int = 200, **context: Any
    ) -> Response:
        context = {"visitor": visitor, "csrf": visitor.session.csrf if visitor else "", **context}
        response = self.templates.TemplateResponse(request, name, context, status_code=status)
        response.headers.update(HEADERS)
        return response

    def error(self, request: Request, visitor: Visitor | None, exc: ShipyardError) -> Response:
        return self.render(request, "error.html", visitor, exc.status, error=exc)


def when(at: float) -> str:
    """A time as the pages show it: UTC, to the minute."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at))


def dashboard_of(request: Request) -> Dashboard:
    found: Dashboard = request.app.state.dashboard
    return found


def to_login(request: Request) -> Response:
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(wanted, safe='')}", status_code=303)


Page = Callable[[Request, Visitor], Awaitable[Response]]
Action = Callable[[Request, Visitor, dict[str, str]], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def signed_in(handler: Page) -> Endpoint:
    """A page for signed-in visitors only; the engine's errors shown as an error page."""

    async def endpoint(request: Request) -> Response:
        dash = dashboard_of(request)
        visitor = await dash.visitor(request)
        if visitor is None:
            return to_login(request)
        try:
            return await handler(request, visitor)
        except ShipyardError as exc:
            return dash.error(request, visitor, exc)

    return endpoint


def action(handler: Action) -> Endpoint:
    """A form's POST: signed in, its CSRF token checked before the handler sees its fields."""

    async def page(request: Request, visitor: Visitor) -> Response:
        fields = await form_fields(request)
        if not csrf_matches(visitor.session, fields.get("csrf", "")):
            raise ForbiddenError(
                "this form's CSRF token is missing or is not your session's",
                "reload the page and submit the form again",
            )
        return await handler(request, visitor, fields)

    return signed_in(page)


async def form_fields(request: Request) -> dict[str, str]:
    """An URL-encoded form's fields (the first value of each), as the dashboard's forms post."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {key: values[0] for key, values in parse_qs(body, keep_blank_values=True).items()}


def form_body(model: type[M], given: dict[str, Any], hint: str) -> M:
    """A form's fields as ``model`` (the API's body schema), or an ``InputError`` naming the
    first field that does not fit."""
    try:
        return model.model_validate(given)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the form"
        raise InputError(f"{where}: {first['msg']}", hint) from None


def back_to(path: str) -> Response:
    """After an action: see the page it concerns (303, so a reload does not post again)."""
    return RedirectResponse(path, status_code=303)
