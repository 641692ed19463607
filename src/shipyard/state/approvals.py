"""Approval requests of deployments, in the state store's SQLite file.

A deployment to an environment that requires approval is recorded as
``waiting_approval`` *without* taking the environment's deploy lock; approving
it takes the lock and marks it running in one transaction, so a waiting request
never blocks a rollback or a deployment elsewhere. The engine's approval
service (``engine/trust/approvals.py``) calls this; each method is one transaction.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from shipyard.core import records as r
from shipyard.core.approval import WAITING, Request
from shipyard.errors import ConflictError, LockHeldError, NotFoundError
from shipyard.state.schema import approvals, deployments, events, locks


class ApprovalStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def request(self, dep: r.NewDeployment, expires_at: float) -> tuple[int, list[int]]:
        """Record a waiting deployment; earlier waiting ones of the environment are superseded.

        Returns the new deployment's id and the ids it superseded.
        """
        now = time.time()
        with self._engine.begin() as conn:
            older = [
                int(i)
                for i in conn.execute(
                    select(deployments.c.id).where(
                        deployments.c.env == dep.env, deployments.c.status == WAITING
                    )
                ).scalars()
            ]
            dep_id = int(
                conn.execute(
                    insert(deployments).values(
                        env=dep.env,
                        kind=dep.kind,
                        release_id=dep.release_id,
                        from_release=dep.from_release,
                        status=WAITING,
                        requested_by=dep.requested_by,
                        reason=dep.reason,
                        started_at=now,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
            )
            conn.execute(
                insert(approvals).values(
                    deployment_id=dep_id,
                    env=dep.env,
                    requested_by=dep.requested_by,
                    requested_at=now,
                    expires_at=expires_at,
                )
            )
            for old in older:
                self._close(conn, old, "superseded", "shipyard", f"superseded by deployment {dep_id}", now)
        return dep_id, older

    def get(self, dep_id: int) -> Request:
        with self._engine.begin() as conn:
            return self._get(conn, dep_id)

    def row(self, dep_id: int) -> dict[str, Any] | None:
        with self._engine.begin() as conn:
            found = (
                conn.execute(select(approvals).where(approvals.c.deployment_id == dep_id)).mappings().first()
            )
        return dict(found) if found else None

    def waiting(self) -> list[Request]:
        with self._engine.begin() as conn:
            ids = conn.execute(select(deployments.c.id).where(deployments.c.status == WAITING)).scalars()
            return [self._get(conn, int(i)) for i in list(ids)]

    def approve(self, dep_id: int, by: str, owner: r.Owner) -> None:
        """Mark the request approved, the deployment running, and take the lock, together."""
        now = time.time()
        with self._engine.begin() as conn:
            req = self._get(conn, dep_id)
            if req.status != WAITING:  # decided meanwhile
                raise _gone(dep_id, req.status)
            held = conn.execute(select(locks).where(locks.c.env == req.env)).mappings().first()
            if held is not None:
                raise LockHeldError(
                    f"environment {req.env!r} is busy with deployment {held['deployment_id']} "
                    f"({held['reason']} by {held['holder']}); deployment {dep_id} stays waiting",
                    f"approve it again when that one ends (`shipyard deployments {req.env}`)",
                )
            started = conn.execute(
                update(deployments)
                .where(deployments.c.id == dep_id, deployments.c.status == WAITING)
                .values(status="running", started_at=now)
            )
            if not started.rowcount:
                raise _gone(dep_id, "decided")
            conn.execute(
                insert(locks).values(
                    env=req.env,
                    deployment_id=dep_id,
                    holder=req.requested_by,
                    reason=f"approved by {by}",
                    acquired_at=now,
                    owner_pid=owner.pid,
                    owner_started=owner.started,
                )
            )
            conn.execute(
                update(approvals)
                .where(approvals.c.deployment_id == dep_id)
                .values(decided_by=by, decided_at=now, decision="approved")
            )
            self._event(conn, dep_id, f"approved by {by}", "ok", now)

    def reject(self, dep_id: int, by: str, reason: str) -> None:
        now = time.time()
        with self._engine.begin() as conn:
            self._close(conn, dep_id, "rejected", by, reason, now)

    def expire(self, now: float) -> list[Request]:
        """End every request whose time ran out as ``expired``; returns them."""
        with self._engine.begin() as conn:
            due = conn.execute(
                select(approvals.c.deployment_id)
                .join(deployments, deployments.c.id == approvals.c.deployment_id)
                .where(deployments.c.status == WAITING, approvals.c.expires_at <= now)
            ).scalars()
            gone = [self._get(conn, int(i)) for i in list(due)]
            for req in gone:
                self._close(conn, req.deployment_id, "expired", "shipyard", "nobody approved it in time", now)
        return gone

    # internals -----------------------------------------------------------------------------
    def _close(self, conn: Connection, dep_id: int, status: str, by: str, reason: str, now: float) -> None:
        done = conn.execute(
            update(deployments)
            .where(deployments.c.id == dep_id, deployments.c.status == WAITING)
            .values(
                status=status,
                finished_at=now,
                error=f"{status} by {by}: {reason}" if by != "shipyard" else f"{status}: {reason}",
                hint="request it again with `shipyard deploy` or `shipyard promote`",
            )
        )
        if not done.rowcount:
            raise _gone(dep_id, "decided")
        conn.execute(
            update(approvals)
            .where(approvals.c.deployment_id == dep_id)
            .values(decided_by=by, decided_at=now, decision=status, reason=reason)
        )
        self._event(conn, dep_id, f"{status} by {by}: {reason}", "failed", now)

    def _event(self, conn: Connection, dep_id: int, message: str, status: str, now: float) -> None:
        conn.execute(
            insert(events).values(
                deployment_id=dep_id, at=now, step="approval", status=status, message=message
            )
        )

    def _get(self, conn: Connection, dep_id: int) -> Request:
        row = (
            conn.execute(
                select(approvals, deployments.c.status)
                .join(deployments, deployments.c.id == approvals.c.deployment_id)
                .where(approvals.c.deployment_id == dep_id)
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFoundError(
                f"deployment {dep_id} has no approval request",
                "only deployments to environments with `approval` wait for one; see `shipyard deployments`",
            )
        return Request(**dict(row))


def _gone(dep_id: int, status: str) -> ConflictError:
    return ConflictError(
        f"deployment {dep_id} is no longer waiting for approval ({status} meanwhile)",
        "see `shipyard deployments`",
    )
