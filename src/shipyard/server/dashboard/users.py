"""The dashboard's users and tokens page, for admins on every environment only.

It lists what ``GET /api/users`` lists (each user's grants and tokens: ids, labels, created,
last used, revoked; never a token's secret, which only its hash is kept of). Adding a user,
revoking a token and disabling a user go through the same access service calls as
``POST /api/users``, ``/api/tokens/<id>/revoke`` and ``/api/users/<name>/disable``: the
``admin`` permission on every environment, decided and audited (``users.add``,
``tokens.revoke``, ``users.disable``) under the signed-in user's name. A new user's token is
shown once, on the answer page of the form that made it (never stored in a page after that).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shipyard.core.access import ROLES, Principal
from shipyard.engine.engine import Engine
from shipyard.schemas import identity as i
from shipyard.server.auth import client_source
from shipyard.server.dashboard.web import Visitor, action, back_to, dashboard_of, form_body, signed_in


def users_page(engine: Engine, who: Principal, source: str) -> list[i.User]:
    engine.access.allow(who, "admin", "users.list", source=source)
    return [i.User.model_validate(u) for u in engine.directory.users()]


@signed_in
async def users(request: Request, visitor: Visitor) -> Response:
    dash = dashboard_of(request)
    found = await run_in_threadpool(users_page, dash.engine, visitor.who, client_source(request))
    envs = ["*", *dash.engine.access.envs()]
    return dash.render(request, "users.html", visitor, users=found, roles=list(ROLES), envs=envs)


def user_body(fields: dict[str, str]) -> i.UserBody:
    given = {"name": fields.get("name", ""), "role": fields.get("role", ""), "env": fields.get("env") or "*"}
    return form_body(i.UserBody, given, "give a user name, a role and an environment")


@action
async def add(request: Request, visitor: Visitor, fields: dict[str, str]) -> Response:
    dash = dashboard_of(request)
    body = user_body(fields)
    access, source = dash.engine.access, client_source(request)
    made = await run_in_threadpool(access.add_user, visitor.who, body.name, body.role, body.env, source)
    return dash.render(request, "user_added.html", visitor, made=i.NewUser.model_validate(made))


@action
async def revoke_token(request: Request, visitor: Visitor, _fields: dict[str, str]) -> Response:
    access, tid = dashboard_of(request).engine.access, request.path_params["tid"]
    await run_in_threadpool(access.revoke_token, visitor.who, tid, client_source(request))
    return back_to("/users")


@action
async def disable(request: Request, visitor: Visitor, _fields: dict[str, str]) -> Response:
    access, name = dashboard_of(request).engine.access, request.path_params["name"]
    await run_in_threadpool(access.disable, visitor.who, name, client_source(request))
    return back_to("/users")
