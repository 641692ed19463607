"""Rollback: to a colour still running, a single routing change; otherwise a deployment of the
earlier release (``Engine.rollback`` decides with ``rollback_plan`` and runs the instant one here).
"""

from __future__ import annotations

import time

from shipyard.core.records import NewDeployment, Route
from shipyard.engine.context import Context
from shipyard.engine.delivery.promotion import check_rollback_target
from shipyard.errors import ConflictError


def rollback_plan(ctx: Context, env: str, to: str | None) -> tuple[str, Route | None]:
    """The release to roll back to, and the route to swap when the rollback is instant (the
    release stands by in its colour, alive); None when it must be deployed again."""
    if env in ctx.rollouts:
        raise ConflictError(
            f"a progressive rollout is running in {env}",
            f"`shipyard rollout abort {env}` returns all traffic to the stable version at once",
        )
    route = ctx.store.route(env)
    target = to or route.standby_release
    if target is None:
        raise ConflictError(
            f"environment {env!r} has no earlier release to roll back to",
            "deploy at least twice, or name a release with --to (see `shipyard releases`)",
        )
    ctx.store.release(target)
    if target == route.active_release:
        raise ConflictError(f"{target} is already serving {env}", "name another release with --to")
    check_rollback_target(ctx, env, target)  # no approval below: only a release that served env
    standby = ctx.live_instances(env, route.standby_colour) if route.standby_colour else []
    up = bool(standby) and all(ctx.runtime.alive(i.runtime_ref) for i in standby)
    return target, route if route.standby_release == target and up else None


def instant_rollback(ctx: Context, env: str, requested_by: str, route: Route) -> int:
    """Swap the colours: the lock, deployment, step and new route in one commit, then the
    proxy (a map change, no reload), then the outcome and the lock's release in another."""
    new = NewDeployment(
        env=env,
        kind="rollback",
        requested_by=requested_by,
        release_id=route.standby_release,
        from_release=route.active_release,
        reason=f"to {route.standby_release}",
    )
    window = ctx.manifest.strategy_for(env).rollback_window
    swapped = Route(
        env,
        route.standby_colour,
        route.standby_release,
        route.active_colour,
        route.active_release,
        time.time() + window,
    )
    started = time.monotonic()
    with ctx.locks.routing:
        dep_id, step = ctx.store.begin_switch(new, ctx.owner, swapped)
        ctx.hit_failpoint("rollback:after-route")
        try:
            ctx.sync_proxy()
        except Exception as exc:
            ctx.store.set_route(route)
            ctx.sync_proxy()
            ctx.store.finish_switch(dep_id, step, "failed", str(exc), "see `shipyard status`")
            raise
    took = (time.monotonic() - started) * 1000
    ctx.store.finish_switch(
        dep_id,
        step,
        "ok",
        f"traffic back on {swapped.active_colour} ({swapped.active_release}) in {took:.1f} ms",
    )
    return dep_id
