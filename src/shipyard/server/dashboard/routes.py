"""The dashboard's routes on the API's app (``register_dashboard``, called by ``create_app``).

They are plain Starlette routes, outside the OpenAPI document: a page answers HTML to a
session cookie, not JSON to a bearer token (``server/gate.py`` lets ``is_page`` paths through
without a token, ``paths.py``; each route checks its session itself, ``web.signed_in``). Static assets
(the stylesheet, the page scripts and the vendored htmx and uPlot, see
``static/vendor/VENDORED.md``) are served from the package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from shipyard.server.dashboard import actions, charts, data, login, observe, pages, records, stream, users
from shipyard.server.dashboard.web import HERE, Dashboard

if TYPE_CHECKING:
    from fastapi import FastAPI

    from shipyard.engine.engine import Engine


def dashboard_routes() -> list[Route | Mount]:
    return [
        Route("/", pages.overview, methods=["GET"]),
        Route("/login", login.login_form, methods=["GET"]),
        Route("/login", login.login, methods=["POST"]),
        Route("/logout", login.logout, methods=["POST"]),
        Route("/approvals", pages.approvals, methods=["GET"]),
        Route("/releases", pages.releases, methods=["GET"]),
        Route("/envs/{env}/rollback", pages.confirm_rollback, methods=["GET"]),
        Route("/envs/{env}/rollback", actions.rollback, methods=["POST"]),
        Route("/envs/{env}/promote", actions.promote, methods=["POST"]),
        Route("/deployments/{dep_id:int}", pages.deployment, methods=["GET"]),
        Route("/deployments/{dep_id:int}/stream", stream.stream, methods=["GET"]),
        Route("/deployments/{dep_id:int}/approve", actions.approve, methods=["POST"]),
        Route("/deployments/{dep_id:int}/reject", actions.reject, methods=["POST"]),
        Route("/deployments/{dep_id:int}/rollout/{verb}", actions.rollout_verb, methods=["POST"]),
        Route("/envs/{env}/metrics", charts.metrics, methods=["GET"]),
        Route("/alerts", observe.alerts, methods=["GET"]),
        Route("/alerts/silences", observe.silence, methods=["POST"]),
        Route("/alerts/silences/{silence_id:int}/expire", observe.expire, methods=["POST"]),
        Route("/secrets", observe.secrets, methods=["GET"]),
        Route("/logs", records.logs, methods=["GET"]),
        Route("/audit", records.audit, methods=["GET"]),
        Route("/backups", data.backups, methods=["GET"]),
        Route("/envs/{env}/backups/verify", data.verify, methods=["POST"]),
        Route("/envs/{env}/backups/restore", data.restore, methods=["POST"]),
        Route("/envs/{env}/drills", data.drill, methods=["POST"]),
        Route("/users", users.users, methods=["GET"]),
        Route("/users", users.add, methods=["POST"]),
        Route("/users/{name}/disable", users.disable, methods=["POST"]),
        Route("/tokens/{tid}/revoke", users.revoke_token, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]


def register_dashboard(app: FastAPI, engine: Engine) -> None:
    app.state.dashboard = Dashboard(engine)
    app.router.routes.extend(dashboard_routes())
