"""The dashboard's pages (GET): overview, releases, approvals, a rollback's confirmation, a
deployment. ``routes.py`` lists them.

Each reads through ``views.py`` on a worker thread (the engine's services do I/O) and renders
its template; ``web.signed_in`` sends a visitor without a session to the login page and shows
the engine's refusals (a role that may not read an environment) as an error page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shipyard.core.access import Principal
from shipyard.engine.engine import Engine
from shipyard.server.dashboard import views
from shipyard.server.dashboard.web import Endpoint, Visitor, dashboard_of, signed_in


def listing(template: str, name: str, read: Callable[[Engine, Principal], Any]) -> Endpoint:
    """A page that shows what ``read`` finds for the visitor, as ``name`` in ``template``."""

    @signed_in
    async def page(request: Request, visitor: Visitor) -> Response:
        dash = dashboard_of(request)
        found = await run_in_threadpool(read, dash.engine, visitor.who)
        return dash.render(request, template, visitor, **{name: found})

    return page


overview = listing("overview.html", "cards", views.overview)
approvals = listing("approvals.html", "waiting", views.approvals)
releases = listing("releases.html", "envs", views.releases)


@signed_in
async def confirm_rollback(request: Request, visitor: Visitor) -> Response:
    """The confirmation a rollback needs: it names what will serve, and what it replaces."""
    dash = dashboard_of(request)
    env = request.path_params["env"]
    to = request.query_params.get("to", "")
    now = await run_in_threadpool(views.serving, dash.engine, visitor.who, env)
    return dash.render(request, "rollback.html", visitor, env=env, to=to, serving=now)


@signed_in
async def deployment(request: Request, visitor: Visitor) -> Response:
    dash = dashboard_of(request)
    dep_id: int = request.path_params["dep_id"]
    dep = await run_in_threadpool(views.deployment, dash.engine, visitor.who, dep_id)
    canary = await run_in_threadpool(views.is_progressive, dash.engine, dep_id)
    may_deploy = visitor.who.may("deploy", dep.env)
    return dash.render(request, "deployment.html", visitor, dep=dep, canary=canary, may_deploy=may_deploy)
