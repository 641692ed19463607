"""The rows of a deployment's life (its lock, steps and events, outcome) and of a route,
written inside a transaction the state store's caller-facing methods open (``state/store.py``),
so that one commit can carry several of them (an instant rollback's start: ``begin_switch``).
"""

from __future__ import annotations

import time

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.core import records as r
from shipyard.errors import LockHeldError
from shipyard.state.schema import deployments, events, locks, routes, steps


def begin(conn: Connection, dep: r.NewDeployment, owner: r.Owner, now: float) -> int:
    """Take ``dep.env``'s lock and insert the running deployment (inside the caller's transaction)."""
    held = conn.execute(select(locks).where(locks.c.env == dep.env)).mappings().first()
    if held is not None:
        raise lock_error(r.Lock.from_row(dict(held)))
    dep_id = conn.execute(
        insert(deployments).values(
            env=dep.env,
            kind=dep.kind,
            release_id=dep.release_id,
            from_release=dep.from_release,
            status="running",
            requested_by=dep.requested_by,
            reason=dep.reason,
            started_at=now,
        )
    ).inserted_primary_key[0]  # type: ignore[index]
    try:
        conn.execute(
            insert(locks).values(
                env=dep.env,
                deployment_id=dep_id,
                holder=dep.requested_by,
                reason=f"{dep.kind} {dep.reason}".strip(),
                acquired_at=now,
                owner_pid=owner.pid,
                owner_started=owner.started,
            )
        )
    except IntegrityError:
        raise LockHeldError(
            f"environment {dep.env!r} is locked by another deployment", "retry shortly"
        ) from None
    return int(dep_id)


def start_step(conn: Connection, dep_id: int, name: str, detail: str, now: float) -> int:
    step_id = conn.execute(
        insert(steps).values(deployment_id=dep_id, name=name, status="running", started_at=now, detail=detail)
    ).inserted_primary_key[0]  # type: ignore[index]
    conn.execute(
        insert(events).values(deployment_id=dep_id, at=now, step=name, status="running", message=detail)
    )
    return int(step_id)


def finish_step(
    conn: Connection, dep_id: int, step_id: int, name: str, status: str, detail: str, now: float
) -> None:
    conn.execute(
        update(steps).where(steps.c.id == step_id).values(status=status, finished_at=now, detail=detail)
    )
    conn.execute(
        insert(events).values(deployment_id=dep_id, at=now, step=name, status=status, message=detail)
    )


def finish(
    conn: Connection, dep_id: int, status: str, error: str | None, hint: str | None, now: float
) -> None:
    """Record a deployment's outcome and release the lock it holds."""
    conn.execute(
        update(deployments)
        .where(deployments.c.id == dep_id)
        .values(status=status, finished_at=now, error=error, hint=hint)
    )
    conn.execute(locks.delete().where(locks.c.deployment_id == dep_id))


def set_route(conn: Connection, route: r.Route, now: float) -> None:
    values = route.to_row() | {"updated_at": now}
    done = conn.execute(update(routes).where(routes.c.env == route.env).values(**values))
    if done.rowcount == 0:
        conn.execute(insert(routes).values(**values))


def lock_error(held: r.Lock) -> LockHeldError:
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(held.acquired_at))
    return LockHeldError(
        f"environment {held.env!r} is locked: {held.holder} holds it since {since} "
        f"for {held.reason!r} (deployment {held.deployment_id})",
        f"wait with `shipyard deployments {held.env}` until it finishes, or, if it is stale, "
        f"`shipyard lock break {held.env}`",
    )
