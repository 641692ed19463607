"""The dashboard's backups page: each environment's catalog, verify, and restore behind a
confirmation that requires typing the environment's name; the last disaster-recovery drill
with its measured RTO and RPO against their targets, and a button to run one.

The page reads what ``GET /api/backups/<env>`` reads, and the actions start the same jobs as
``POST /api/backups/<env>/verify`` and ``/restore`` (``server/backups.py``: ``deploy`` to
verify, ``admin`` on the environment to restore into; allowed and audited before the job
starts). The drills are ``GET /api/drills/<env>``'s (``server/drill.py``: ``read``) and the
button starts the same job as ``POST /api/drills/<env>`` (``deploy``, audited as ``drill.run``).
The job runs on; the page shows the catalog again.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shipyard.core.access import Principal
from shipyard.engine.engine import Engine
from shipyard.errors import InputError, ShipyardError
from shipyard.schemas import data as d
from shipyard.server.backups import catalog, start_restore, start_verify
from shipyard.server.dashboard.web import Visitor, action, back_to, dashboard_of, signed_in
from shipyard.server.drill import drills_of, start_drill


@dataclass(frozen=True)
class EnvBackups:
    """One environment on the backups page: its catalog and its last drill (or why none)."""

    catalog: d.Catalog
    drill: d.Drill | None
    no_drill: str  # why a drill cannot be listed here (no database), else ""
    may_deploy: bool  # may verify and run a drill


def catalogs(engine: Engine, who: Principal) -> list[EnvBackups]:
    envs = who.readable_envs(engine.access.envs())
    if not envs:
        engine.access.read(who)  # raises: no environment is readable
    return [env_backups(engine, who, env) for env in envs]


def env_backups(engine: Engine, who: Principal, env: str) -> EnvBackups:
    try:
        drills, why = drills_of(engine, who, env).drills, ""
    except ShipyardError as exc:  # an environment without a database to drill
        drills, why = [], exc.message
    last = drills[0] if drills else None
    return EnvBackups(catalog(engine, who, env), last, why, who.may("deploy", env))


@signed_in
async def backups(request: Request, visitor: Visitor) -> Response:
    dash = dashboard_of(request)
    found = await run_in_threadpool(catalogs, dash.engine, visitor.who)
    return dash.render(request, "backups.html", visitor, envs=found)


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


@action
async def drill(request: Request, visitor: Visitor, _fields: dict[str, str]) -> Response:
    engine, env = dashboard_of(request).engine, request.path_params["env"]
    await run_in_threadpool(start_drill, engine, request, visitor.who, env)
    return back_to("/backups")
