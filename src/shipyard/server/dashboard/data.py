"""The dashboard's backups page: each environment's catalog, verify, and restore behind a
confirmation that requires typing the environment's name.

The page reads what ``GET /api/backups/<env>`` reads, and the actions start the same jobs as
``POST /api/backups/<env>/verify`` and ``/restore`` (``server/backups.py``: ``deploy`` to
verify, ``admin`` on the environment to restore into; allowed and audited before the job
starts). The job runs on; the page shows the catalog again.
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shipyard.core.access import Principal
from shipyard.engine.engine import Engine
from shipyard.errors import InputError
from shipyard.schemas import data as d
from shipyard.server.backups import catalog, start_restore, start_verify
from shipyard.server.dashboard.web import Visitor, action, back_to, dashboard_of, signed_in


def catalogs(engine: Engine, who: Principal) -> list[d.Catalog]:
    envs = who.readable_envs(engine.access.envs())
    if not envs:
        engine.access.read(who)  # raises: no environment is readable
    return [catalog(engine, who, env) for env in envs]


@signed_in
async def backups(request: Request, visitor: Visitor) -> Response:
    dash = dashboard_of(request)
    found = await run_in_threadpool(catalogs, dash.engine, visitor.who)
    return dash.render(request, "backups.html", visitor, catalogs=found)


def chosen(fields: dict[str, str]) -> str | None:
    try:
        return d.VerifyBody(backup=fields.get("backup") or None).backup
    except ValidationError:
        given = fields.get("backup", "")[:60]
        raise InputError(f"{given!r} is not a backup id", "pick one from the list") from None


@action
async def verify(request: Request, visitor: Visitor, fields: dict[str, str]) -> Response:
    engine, env = dashboard_of(request).engine, request.path_params["env"]
    body = d.VerifyBody(backup=chosen(fields))
    await run_in_threadpool(start_verify, engine, request, visitor.who, env, body)
    return back_to("/backups")


@action
async def restore(request: Request, visitor: Visitor, fields: dict[str, str]) -> Response:
    engine, env = dashboard_of(request).engine, request.path_params["env"]
    if fields.get("confirm", "").strip() != env:
        raise InputError(
            f"a restore replaces {env}'s data: the confirmation must be the environment's name",
            f"type {env} in the confirmation field",
        )
    body = d.RestoreBody(backup=chosen(fields))
    await run_in_threadpool(start_restore, engine, request, visitor.who, env, body)
    return back_to("/backups")
