"""Signing in and out of the dashboard: a user's API token exchanged for a session cookie.

The login form is protected against cross-site posts by a double-submit token (a random value
in a SameSite=Strict cookie and in the form, which must match); the session's own CSRF token
protects every form after that (``web.action``). The session cookie is HttpOnly,
SameSite=Strict, and Secure when the page was served over TLS. Each sign-in, refused sign-in
and sign-out is in the audit log (``dashboard.login``/``dashboard.logout``, with the client's
address; a refused one by ``-`` with the reason, never the token).
"""

from __future__ import annotations

import hmac
import secrets

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from shipyard.errors import AuthError
from shipyard.server.auth import client_source
from shipyard.server.dashboard.web import COOKIE, Visitor, action, back_to, dashboard_of, form_fields

LOGIN_COOKIE = "sy_login"


def safe_next(wanted: str) -> str:
    """Where to go after login: a path of this site only (never ``//host`` or a full URL)."""
    ok = wanted.startswith("/") and not wanted.startswith("//") and "\\" not in wanted
    return wanted if ok else "/"


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


async def login_form(request: Request) -> Response:
    dash = dashboard_of(request)
    if await dash.visitor(request) is not None:
        return back_to(safe_next(request.query_params.get("next", "/")))
    return login_page(request, status=200, error="")


def login_page(request: Request, status: int, error: str) -> Response:
    guard = secrets.token_urlsafe(32)
    wanted = safe_next(request.query_params.get("next", "/"))
    dash = dashboard_of(request)
    response = dash.render(request, "login.html", None, status, next=wanted, login_csrf=guard, error=error)
    set_cookie(request, response, LOGIN_COOKIE, guard, max_age=3600)
    return response


async def login(request: Request) -> Response:
    fields = await form_fields(request)
    guard = request.cookies.get(LOGIN_COOKIE, "")
    given = fields.get("csrf", "")
    if not guard or not hmac.compare_digest(guard.encode(), given.encode()):
        return login_page(request, 403, "The form expired or was not sent from this page: try again.")
    token = fields.get("token", "").strip()
    dash = dashboard_of(request)
    try:
        if not token:
            raise AuthError("no token given", "paste your API token")
        who = await dash.principal(token)
    except AuthError as exc:
        await run_in_threadpool(
            dash.engine.access.session, "-", "dashboard.login", client_source(request), "denied", exc.message
        )
        return login_page(request, 401, "That token is not valid: paste an API token of yours.")
    await run_in_threadpool(dash.engine.access.session, who.user, "dashboard.login", client_source(request))
    session_id, _ = dash.sessions.create(token)
    response = RedirectResponse(safe_next(fields.get("next", "/")), status_code=303)
    set_cookie(request, response, COOKIE, session_id, max_age=int(dash.sessions.lifetime))
    response.delete_cookie(LOGIN_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@action
async def logout(request: Request, visitor: Visitor, _fields: dict[str, str]) -> Response:
    dash = dashboard_of(request)
    dash.sessions.drop(request.cookies.get(COOKIE, ""))
    await run_in_threadpool(
        dash.engine.access.session, visitor.who.user, "dashboard.logout", client_source(request)
    )
    response = back_to("/login")
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
