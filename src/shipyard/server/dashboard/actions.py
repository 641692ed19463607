"""The dashboard's actions (POST forms): roll back, promote, approve, reject, a canary's verbs.

Each runs through ``server/auth.py``'s ``act``, as the API's routes do: the role decided by the
access service and the action in the audit log, under the signed-in user's name, before the
engine acts. ``web.action`` has checked the form's CSRF token first. After the action the
visitor sees the deployment it started or changed (a 303, so a reload does not post again).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shipyard.errors import InputError
from shipyard.server.auth import act
from shipyard.server.dashboard.web import Visitor, action, back_to, dashboard_of

VERBS = ("pause", "resume", "promote", "abort")
T = TypeVar("T")


async def audited(
    request: Request,
    visitor: Visitor,
    permission: str,
    name: str,
    env: str,
    target: str,
    run: Callable[[], T],
) -> T:
    """``act`` (decided, audited, then run) on a worker thread."""
    return await run_in_threadpool(act, request, visitor.who, permission, name, env, target, run)


def required(fields: dict[str, str], name: str, what: str) -> str:
    value = fields.get(name, "").strip()
    if not value:
        raise InputError(f"the form's {name!r} is empty", f"give {what}")
    return value


@action
async def rollback(request: Request, visitor: Visitor, fields: dict[str, str]) -> Response:
    env = request.path_params["env"]
    to = required(fields, "to", "the release to roll back to")
    engine = dashboard_of(request).engine
    run = lambda: engine.rollback(env, visitor.user, to)  # noqa: E731
    dep_id = await audited(request, visitor, "deploy", "rollback", env, to, run)
    return back_to(f"/deployments/{dep_id}")


@action
async def promote(request: Request, visitor: Visitor, fields: dict[str, str]) -> Response:
    to = request.path_params["env"]
    release = required(fields, "release", "the release to promote")
    engine = dashboard_of(request).engine
    run = lambda: engine.promote(release, to, visitor.user)  # noqa: E731
    dep_id = await audited(request, visitor, "deploy", "promote", to, release, run)
    return back_to(f"/deployments/{dep_id}")


@action
async def approve(request: Request, visitor: Visitor, _fields: dict[str, str]) -> Response:
    dep_id: int = request.path_params["dep_id"]
    engine = dashboard_of(request).engine
    env = (await run_in_threadpool(engine.history.deployment, dep_id)).env
    run = lambda: engine.approvals.approve(visitor.who, dep_id)  # noqa: E731
    await audited(request, visitor, "approve", "approve", env, str(dep_id), run)
    return back_to(f"/deployments/{dep_id}")


@action
async def reject(request: Request, visitor: Visitor, fields: dict[str, str]) -> Response:
    dep_id: int = request.path_params["dep_id"]
    reason = required(fields, "reason", "a reason for the requester")[:500]
    engine = dashboard_of(request).engine
    env = (await run_in_threadpool(engine.history.deployment, dep_id)).env
    run = lambda: engine.approvals.reject(visitor.who, dep_id, reason)  # noqa: E731
    await audited(request, visitor, "approve", "reject", env, f"{dep_id}: {reason}", run)
    return back_to(f"/deployments/{dep_id}")


@action
async def rollout_verb(request: Request, visitor: Visitor, _fields: dict[str, str]) -> Response:
    dep_id: int = request.path_params["dep_id"]
    verb = request.path_params["verb"]
    if verb not in VERBS:
        raise InputError(f"unknown canary action {verb!r}", f"use one of: {', '.join(VERBS)}")
    engine = dashboard_of(request).engine
    env = (await run_in_threadpool(engine.history.deployment, dep_id)).env
    run = lambda: engine.rollout_verb(env, verb, visitor.user)  # noqa: E731
    await audited(request, visitor, "deploy", f"rollout.{verb}", env, "", run)
    return back_to(f"/deployments/{dep_id}")
