"""The dashboard's logs search and audit log pages (read only).

The logs page searches one environment's central logs as ``GET /api/logs/<env>`` does (the
``read`` permission on it; the same filters, ``LogFilter``), with an optional live tail (htmx
reloads the results every few seconds). The audit log page shows the newest entries and the
chain's verification, as ``GET /api/audit`` and ``/api/audit/verify`` do: admins on every
environment only, a refusal audited.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shipyard.core.access import Principal
from shipyard.engine.engine import Engine
from shipyard.engine.observe.logsearch import LogQuery
from shipyard.errors import ConflictError, InputError
from shipyard.schemas.identity import AuditEntry, ChainReport
from shipyard.schemas.observe import LogFilter, LogLines
from shipyard.server.auth import client_source
from shipyard.server.dashboard.web import Visitor, dashboard_of, signed_in

FILTERS = ("since", "level", "grep", "release")
SHOWN = 200


@dataclass(frozen=True)
class LogsPage:
    envs: list[str]
    env: str
    filters: LogFilter
    found: LogLines | None


def logs_page(engine: Engine, who: Principal, asked: dict[str, str]) -> LogsPage:
    envs = who.readable_envs(engine.access.envs())
    if not envs:
        engine.access.read(who)  # raises: no environment is readable
    env = asked.get("env") or envs[0]
    engine.access.read(who, env)
    try:
        filters = LogFilter.model_validate({k: v for k, v in asked.items() if k in FILTERS and v})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InputError(f"{first['loc'][0]}: {first['msg']}", "shorten the filter") from None
    if engine.logs is None:
        raise ConflictError(
            "this control plane keeps no central logs: its log store could not be opened",
            "see why in <home>/server.log",
        )
    found = engine.logs.search(env, LogQuery(**filters.model_dump()), SHOWN, None)
    return LogsPage(envs, env, filters, LogLines.model_validate(found))


@signed_in
async def logs(request: Request, visitor: Visitor) -> Response:
    dash = dashboard_of(request)
    asked = dict(request.query_params)
    page = await run_in_threadpool(logs_page, dash.engine, visitor.who, asked)
    follow = asked.get("follow") == "1"
    return dash.render(request, "logs.html", visitor, page=page, follow=follow, query=request.url.query)


def audit_page(engine: Engine, who: Principal, source: str) -> tuple[list[AuditEntry], ChainReport]:
    engine.access.allow(who, "admin", "audit.list", source=source)
    entries = [AuditEntry.model_validate(vars(e)) for e in engine.directory.audit()[-SHOWN:]]
    return entries[::-1], ChainReport.model_validate(vars(engine.directory.check_audit()))


@signed_in
async def audit(request: Request, visitor: Visitor) -> Response:
    dash = dashboard_of(request)
    source = client_source(request)
    entries, chain = await run_in_threadpool(audit_page, dash.engine, visitor.who, source)
    return dash.render(request, "audit.html", visitor, entries=entries, chain=chain)
