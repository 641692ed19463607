"""Short jobs that hold an environment's deploy lock and record their steps like deployments.

A restore or a ``shipyard migrate up|down`` is recorded as a deployment of kind
``restore`` or ``migrate``: it takes the environment's lock (so no deployment runs a
migration meanwhile), each step is timed and kept, and ``shipyard deployments`` shows it.
Called by ``engine/backups.py`` and ``engine/migrations.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from shipyard.core.records import NewDeployment
from shipyard.engine.context import Context
from shipyard.errors import ShipyardError

T = TypeVar("T")


def run_step(ctx: Context, dep_id: int, name: str, action: Callable[[], tuple[T, str]]) -> T:
    """Run one recorded step: its start, outcome, detail and timing."""
    step_id = ctx.store.start_step(dep_id, name)
    started = time.monotonic()
    try:
        value, detail = action()
    except ShipyardError as exc:
        ctx.store.finish_step(dep_id, step_id, name, "failed", exc.message)
        raise
    ctx.store.finish_step(dep_id, step_id, name, "ok", detail or f"{time.monotonic() - started:.2f}s")
    return value


@contextmanager
def locked_job(ctx: Context, env: str, kind: str, by: str, reason: str) -> Iterator[int]:
    """Hold ``env``'s deploy lock for a job recorded as a deployment of ``kind``."""
    route = ctx.store.route(env)
    dep_id = ctx.store.begin_deployment(
        NewDeployment(env, kind, by, route.active_release, route.active_release, reason), ctx.owner
    )
    try:
        yield dep_id
    except ShipyardError as exc:
        ctx.store.finish_deployment(dep_id, "failed", exc.message, exc.hint)
        raise
    except BaseException as exc:
        ctx.store.finish_deployment(dep_id, "failed", f"internal error: {exc!r}", "report this as a bug")
        raise
    ctx.store.finish_deployment(dep_id, "succeeded")
