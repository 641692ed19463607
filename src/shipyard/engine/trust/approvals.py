"""Approvals: deployments that wait for a second person, and their approval, rejection or expiry.

``Engine.deploy`` hands a deployment to an environment with ``approval`` to
``Approvals.request``: it is recorded as ``waiting_approval`` and holds no
lock (a rollback or a deployment elsewhere is never blocked by it). An
approver other than the requester runs ``approve`` (the four-eyes rule of
``core/approval.py``), which takes the lock and starts the deployment; the
reconciler calls ``expire_waiting`` every tick. A restarted control plane
finds waiting deployments still waiting: nothing about them lives in memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from shipyard.core.access import Principal
from shipyard.core.approval import Request, check_decision, is_expired
from shipyard.core.durations import format_duration
from shipyard.core.records import NewDeployment
from shipyard.engine.context import Context
from shipyard.manifest.promotion import Approval

Launch = Callable[[int, str, "str | None"], None]


class Approvals:
    def __init__(self, ctx: Context, launch: Launch) -> None:
        self.ctx = ctx
        self.launch = launch  # starts an approved deployment's thread

    def request(self, new: NewDeployment, approval: Approval) -> int:
        store = self.ctx.store
        expires = time.time() + approval.expires
        dep_id, superseded = store.approvals.request(new, expires)
        until = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(expires))
        store.add_event(
            dep_id,
            "approval",
            f"waiting for approval: an approver of {new.env} other than {new.requested_by} runs "
            f"`shipyard approve {dep_id}` (expires in {format_duration(approval.expires)}, at {until})",
        )
        for old in superseded:
            store.audit.append(
                "shipyard", "approval.supersede", env=new.env, target=str(old), detail=str(dep_id)
            )
        asked = f"{new.requested_by} asks to deploy {new.release_id}"
        self.ctx.notify(dep_id, new.env, "deployment.waiting_approval", asked)
        return dep_id

    def approve(self, who: Principal, dep_id: int) -> int:
        store = self.ctx.store
        now = time.time()
        request = self._current(dep_id, now)
        check_decision(who, request, "approve", now)
        store.approvals.approve(dep_id, who.user, self.ctx.owner)
        self.ctx.sync_proxy()
        self.launch(dep_id, request.env, store.deployment(dep_id).release_id)
        return dep_id

    def _current(self, dep_id: int, now: float) -> Request:
        """The request as a decision finds it: past its expiry, it is expired first."""
        request = self.ctx.store.approvals.get(dep_id)
        if is_expired(request, now):
            expire_waiting(self.ctx, now)
            request = self.ctx.store.approvals.get(dep_id)
        return request

    def reject(self, who: Principal, dep_id: int, reason: str) -> int:
        store = self.ctx.store
        now = time.time()
        request = self._current(dep_id, now)
        check_decision(who, request, "reject", now)
        store.approvals.reject(dep_id, who.user, reason)
        self.ctx.notify(dep_id, request.env, "deployment.rejected", f"{who.user}: {reason}")
        return dep_id


def expire_waiting(ctx: Context, now: float | None = None) -> list[int]:
    """End requests nobody approved in time (``expired``), each in the audit log too."""
    gone = ctx.store.approvals.expire(time.time() if now is None else now)
    for req in gone:
        ctx.store.audit.append(
            "shipyard",
            "approval.expire",
            env=req.env,
            target=str(req.deployment_id),
            detail=f"requested by {req.requested_by}",
        )
        ctx.notify(req.deployment_id, req.env, "deployment.expired", "nobody approved it in time")
    return [r.deployment_id for r in gone]
