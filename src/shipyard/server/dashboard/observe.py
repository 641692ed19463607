"""The dashboard's alerts, silences and secrets pages and their actions.

The alerts page reads what ``GET /api/alerts`` reads (``server/observe.py`` ``alerts_for``);
silencing and expiring go through the same functions as the API's routes (``add_silence``,
``expire_silence``: the ``deploy`` permission on the silenced environment, audited). The
secrets page lists what ``GET /api/secrets/<env>`` lists (names, versions, who wrote them,
rotation dates) for the environments the visitor may list; it never shows a value, not even
masked.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shipyard.core.access import Principal
from shipyard.engine.engine import Engine
from shipyard.schemas import observe as o
from shipyard.schemas.secrets import Described
from shipyard.server.auth import client_source
from shipyard.server.dashboard.web import Visitor, action, back_to, dashboard_of, form_body, signed_in
from shipyard.server.observe import add_silence, alerts_for, expire_silence

DURATIONS = ("30m", "1h", "4h", "1d")


@dataclass(frozen=True)
class AlertsPage:
    alerts: o.Alerts
    envs: list[str]  # the environments the visitor may silence


def alerts_page(engine: Engine, who: Principal) -> AlertsPage:
    found = alerts_for(engine, who, 20)
    return AlertsPage(found, [e for e in engine.access.envs() if who.may("deploy", e)])


def secrets_page(engine: Engine, who: Principal) -> dict[str, list[Described]]:
    envs = [e for e in engine.access.envs() if who.may("secrets-list", e)]
    if not envs:
        engine.access.check(who, "secrets-list")  # raises: no environment's secrets are listable
    return {e: [Described.model_validate(m) for m in engine.vault.listing(who, e)] for e in envs}


@signed_in
async def alerts(request: Request, visitor: Visitor) -> Response:
    dash = dashboard_of(request)
    page = await run_in_threadpool(alerts_page, dash.engine, visitor.who)
    return dash.render(request, "alerts.html", visitor, page=page, durations=DURATIONS)


@signed_in
async def secrets(request: Request, visitor: Visitor) -> Response:
    dash = dashboard_of(request)
    listed = await run_in_threadpool(secrets_page, dash.engine, visitor.who)
    return dash.render(request, "secrets.html", visitor, listed=listed)


def silence_body(fields: dict[str, str]) -> o.SilenceBody:
    """The silence a form asks for: its ``m.<label>`` fields are the matchers."""
    matchers = {k.removeprefix("m."): v for k, v in fields.items() if k.startswith("m.") and v}
    given = {
        "matchers": matchers,
        "duration": fields.get("duration", "1h"),
        "comment": fields.get("comment", ""),
    }
    return form_body(o.SilenceBody, given, "give an environment and a duration")


@action
async def silence(request: Request, visitor: Visitor, fields: dict[str, str]) -> Response:
    engine = dashboard_of(request).engine
    body = silence_body(fields)
    await run_in_threadpool(add_silence, engine, visitor.who, body, client_source(request))
    return back_to("/alerts")


@action
async def expire(request: Request, visitor: Visitor, _fields: dict[str, str]) -> Response:
    engine = dashboard_of(request).engine
    silence_id: int = request.path_params["silence_id"]
    await run_in_threadpool(expire_silence, engine, visitor.who, silence_id, client_source(request))
    return back_to("/alerts")
