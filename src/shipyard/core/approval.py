"""Approvals: who may approve or reject a waiting deployment, and when a request expires. Pure.

The four-eyes rule: a deployment to an environment that requires approval
runs only after a user with the ``approve`` permission on that environment,
*other than the requester*, approves it. ``engine/trust/approvals.py`` calls these
before changing anything.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from shipyard.core.access import Principal, decide
from shipyard.errors import ConflictError, ForbiddenError

WAITING = "waiting_approval"


@dataclass(frozen=True)
class Request:
    """A deployment's approval request, as recorded."""

    deployment_id: int
    env: str
    requested_by: str
    requested_at: float
    expires_at: float
    status: str  # the deployment's status
    decided_by: str | None = None
    decided_at: float | None = None
    decision: str | None = None  # approved, rejected, expired
    reason: str = ""


def is_expired(request: Request, now: float) -> bool:
    return request.status == WAITING and now >= request.expires_at


def check_decision(who: Principal, request: Request, verb: str, now: float) -> None:
    """Raise unless ``who`` may ``verb`` (approve or reject) ``request`` now."""
    dep = request.deployment_id
    if request.status != WAITING:
        what = request.decision or request.status
        by = f" by {request.decided_by}" if request.decided_by else ""
        raise ConflictError(
            f"deployment {dep} is not waiting for approval: it is {what}{by}",
            f"see it with `shipyard deployments {request.env}`",
        )
    if is_expired(request, now):
        raise ConflictError(
            f"the approval request of deployment {dep} expired at {_when(request.expires_at)}",
            f"ask for a new one with `shipyard deploy {request.env}` or `shipyard promote`",
        )
    decide(who, "approve", request.env)
    if verb == "approve" and who.user == request.requested_by:
        raise ForbiddenError(
            f"{who.user} requested deployment {dep} and cannot approve it too (four-eyes rule)",
            f"ask another user with the approver role on {request.env} to run `shipyard approve {dep}`",
        )


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
