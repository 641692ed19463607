"""Worker processes (every process of the manifest but web): started, stopped and converged
on the rule of ``core/workers.py`` (they run for the serving release, in its colour).

A deployment calls ``start_workers`` once its new web colour passed its checks (health, smoke,
a promoted canary): the new release's workers start beside the serving ones and must stay up
``processes.<name>.settle``, or the deployment fails and stops them. After the switch (the drain
step), after a failed deployment and after blue-green's automatic rollback, the deployment calls
``converge_workers``: the old release's workers are stopped (SIGTERM, killed after the
strategy's ``stop_timeout``), or the serving release's started again. The reconciler converges
every environment no deployment holds on each tick (an instant rollback's workers, a killed
control plane's leftovers, a changed count) and restarts crashed workers with backoff, as web's.
Workers have no port and take no traffic: HAProxy, probes and rollouts never see them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from shipyard.core.records import Colour, Instance, NewInstance, Release
from shipyard.core.workers import plan_workers
from shipyard.engine.context import Context
from shipyard.engine.data.database import AppDatabases
from shipyard.engine.delivery.instances import failed_with_output, start_instance

LIVE = ("starting", "running")


def live_workers(ctx: Context, env: str | None) -> list[Instance]:
    """``env``'s workers that run or should (every environment's with None)."""
    return [i for i in ctx.store.instances(env, process=None) if i.process != "web" and i.state in LIVE]


def start_workers(
    ctx: Context,
    databases: AppDatabases,
    env: str,
    colour: Colour,
    release: Release,
    note: Callable[[str], None],
) -> tuple[None, str]:
    """Start ``release``'s workers in ``colour``; each must stay up its ``settle`` time."""
    started: list[Instance] = []
    for name, count in ctx.manifest.workers(env).items():
        for slot in range(count):
            started.append(_start_one(ctx, databases, env, colour, release, name, slot))
            note(f"{started[-1].name} started ({ctx.runtime.label(started[-1].runtime_ref)})")
    settle = max((ctx.manifest.processes[i.process].settle for i in started), default=0.0)
    time.sleep(settle)
    for inst in started:
        fresh = ctx.store.instance(inst.id)
        if fresh.restarts > 0 or not ctx.runtime.alive(fresh.runtime_ref):
            raise failed_with_output(
                ctx,
                fresh,
                f"worker {fresh.name} of {release.id} stopped within {settle:g}s of its start",
                f"run processes.{fresh.process}.command by hand in the release to see why "
                f"(`shipyard logs {env}`); the old version kept serving",
            )
        ctx.store.update_instance(inst.id, state="running")
    return None, f"{len(started)} worker(s) of {release.id} up for {settle:g}s"


def converge_workers(ctx: Context, databases: AppDatabases, env: str) -> list[str]:
    """Start and stop workers until ``env``'s match the rule; what was done, for notes."""
    route = ctx.store.route(env)
    known = env in ctx.manifest.environments
    plan = plan_workers(route, ctx.manifest.workers(env) if known else {}, live_workers(ctx, env))
    done: list[str] = []
    if plan.stop:
        grace = ctx.manifest.strategy_for(env).stop_timeout if known else 5.0
        stop_workers(ctx, plan.stop, grace)
        done += [f"{env}/{i.name} ({i.release_id}) stopped" for i in plan.stop]
    if plan.start and route.active_colour and route.active_release:
        release = ctx.store.release(route.active_release)
        for name, slot in plan.start:
            inst = _start_one(ctx, databases, env, route.active_colour, release, name, slot)
            ctx.store.update_instance(inst.id, state="running")
            done.append(f"{env}/{inst.name} ({release.id}) started")
    return done


def stop_workers(ctx: Context, workers: list[Instance], timeout: float) -> None:
    """SIGTERM (or the runtime's graceful stop), killed after ``timeout``; no proxy to sync."""
    for inst in workers:
        ctx.store.update_instance(inst.id, state="stopping")
    for inst in workers:
        ctx.runtime.stop(inst.runtime_ref, timeout)
        ctx.store.update_instance(inst.id, state="stopped")


def _start_one(
    ctx: Context, databases: AppDatabases, env: str, colour: Colour, release: Release, process: str, slot: int
) -> Instance:
    inst_id = ctx.store.add_instance(NewInstance(env, colour, slot, release.id, time.time(), process))
    start_instance(ctx, databases, ctx.store.instance(inst_id), release)
    return ctx.store.instance(inst_id)
