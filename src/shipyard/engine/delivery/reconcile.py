"""The reconciler: makes the running world match the recorded state, at start and every tick.

At start-up it adopts instances that survived a killed control plane, stops
the ones no route needs (a half-started colour, a new release started beside the
standby one, or the standby release left beside a switched-in one) and any orphan
process this Shipyard home started, marks interrupted deployments and releases their locks,
and syncs HAProxy to the recorded routing. Every tick it restarts crashed
instances (web and workers) with backoff; a dead web instance leaves HAProxy on the tick it is
seen dead, when a live one of its colour can stand in (a Swarm task stopping on a drained
node serves its last requests while the others take the new ones), and comes back once started
again and healthy (``Context.held_out``); converges the workers of every environment no
deployment holds on the serving release (``workers.py``) and autoscaled environments' web
instances on their stored count (``scaling.py``), replaces hung ones (alive, but
failing their health check for ``health.restart_after``: the ``LivenessWatch``), restarts
HAProxy if it died, and stops standby colours whose rollback window has passed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from shipyard.core.instance_health import HealthState, out_of_traffic, restart_delay
from shipyard.core.layout import belongs
from shipyard.core.records import Instance, Route
from shipyard.drivers.loops import Loop, LoopOwner
from shipyard.engine.context import Context
from shipyard.engine.data.database import AppDatabases
from shipyard.engine.delivery.instances import start_instance, stop_instances
from shipyard.engine.delivery.liveness import LivenessWatch
from shipyard.engine.delivery.scaling import Scaling, Warming, probe_due
from shipyard.engine.delivery.workers import converge_workers, live_workers, stop_workers
from shipyard.engine.trust.approvals import expire_waiting


def reconcile_at_start(ctx: Context) -> list[str]:
    """Converge after a restart; returns what was done, for the server's log."""
    done: list[str] = []
    store = ctx.store
    for held in store.locks():
        if not ctx.lock_owner_alive(held.owner):
            dep = store.deployment(held.deployment_id) if held.deployment_id else None
            step = dep.steps[-1].name if dep and dep.steps else "start"
            store.break_lock(held.env, "interrupted", f"the control plane stopped during step {step!r}")
            done.append(f"deployment {held.deployment_id} in {held.env} was interrupted at {step}")
            if held.deployment_id is not None and store.rollout(held.deployment_id) is not None:
                store.save_rollout(
                    held.deployment_id,
                    phase="failed",
                    weight=0,
                    reason="the control plane stopped during the rollout; traffic returned to stable",
                )
    for route in store.all_routes():
        if route.canary_colour is not None and store.lock(route.env) is None:
            # no half-switched traffic survives a restart: the stable version takes it all back
            store.set_route(route.without_canary())
            done.append(f"{route.env}: canary {route.canary_release} taken out of traffic")
    routes = {r.env: r for r in store.all_routes()}
    for inst in store.instances():
        route = routes.get(inst.env) or Route(inst.env)
        wanted = belongs(route, inst)  # the release its colour serves or keeps standing by
        if inst.state == "stopping" or not wanted or inst.env not in ctx.manifest.environments:
            stop_instances(ctx, [inst], 5.0)
            done.append(f"stopped {inst.env}/{inst.name} ({inst.release_id}): no route needs it")
        elif not ctx.runtime.alive(inst.runtime_ref):
            done.append(f"{inst.env}/{inst.name} was down; it will be restarted")
        else:
            done.append(f"adopted {inst.env}/{inst.name} ({ctx.runtime.label(inst.runtime_ref)})")
    halted = [i for i in store.instances(process=None) if i.process != "web" and i.state == "stopping"]
    stop_workers(ctx, halted, 5.0)  # a stop the killed control plane had begun
    done += [f"stopped {i.env}/{i.name} ({i.release_id}): it was being stopped" for i in halted]
    known = {i.id for i in store.instances(process=None)}  # workers included: adopted, not orphans
    for orphan in ctx.runtime.orphans(known):
        ctx.runtime.stop(orphan, 5.0)
        done.append(f"stopped orphan {ctx.runtime.label(orphan)}")
    ctx.sync_proxy()
    return done


class Reconciler(LoopOwner):
    def __init__(self, ctx: Context, databases: AppDatabases, tick: float = 0.25) -> None:
        self.ctx = ctx
        self.databases = databases  # the restarted instances' DATABASE_URL
        self.tick = tick
        self._next_restart: dict[int, float] = {}
        self._returning: dict[int, Warming] = {}  # held out of traffic, probed on the way back
        self._jobs: list[list[Any]] = []  # [period, next run (monotonic), job]
        self.liveness = LivenessWatch(ctx)
        self.loop = Loop("reconciler", self.run_once, tick)  # errors surface in status
        self.scaling = Scaling(ctx, databases, self.loop.note)

    def start(self) -> None:
        self.loop.start()

    def every(self, period: float, job: Callable[[], object]) -> None:
        """Run ``job`` in the reconciler's loop every ``period`` seconds (first run: at once)."""
        self._jobs.append([period, 0.0, job])

    def run_once(self) -> None:
        ctx = self.ctx
        if ctx.proxy.ensure_running():
            self.loop.note("HAProxy had died; restarted")
        self._restart_crashed()
        self._bring_back()
        self._converge_workers()
        self._converge_counts()
        self._replace_hung()
        self._expire_standby()
        now = time.monotonic()
        for entry in self._jobs:
            if now >= entry[1]:
                entry[1] = now + entry[0]
                entry[2]()
        expire_waiting(ctx)

    def _restart_crashed(self) -> None:
        ctx = self.ctx
        now = time.monotonic()
        alive: list[Instance] = []
        dead: list[Instance] = []
        for inst in ctx.store.instances(process=None):  # web and workers alike
            if inst.state not in ("starting", "running") or inst.process not in ctx.manifest.processes:
                continue  # a worker whose process left the manifest: converged away
            if ctx.runtime.alive(inst.runtime_ref):
                alive.append(inst)
            elif inst.runtime_ref is not None or ctx.store.lock(inst.env) is None:
                dead.append(inst)  # (one a deployment is still starting is not a crash)
        newly_dead = [i for i in dead if i.id not in self._next_restart]
        for inst in newly_dead:
            self._next_restart[inst.id] = now + restart_delay(inst.restarts)
            ctx.store.update_instance(inst.id, restarts=inst.restarts + 1)
        # out of traffic before any restart: one (a Swarm task's adoption) may take seconds
        self._take_out_of_traffic(out_of_traffic(newly_dead, alive))
        for inst in dead:
            if inst in newly_dead or now < self._next_restart[inst.id]:
                continue
            del self._next_restart[inst.id]
            self._start_again(inst.id)

    def _take_out_of_traffic(self, dead: list[Instance]) -> None:
        """Dead instances' servers go to maintenance now (a Swarm task stopping on a drained
        node serves its last requests there while the others take the new ones); each comes
        back once started again and healthy (``_bring_back``)."""
        if not dead:
            return
        with self.ctx.locks.routing:
            self.ctx.held_out.update(i.id for i in dead)
            self.ctx.sync_proxy()
        self.loop.note(f"out of traffic until healthy again: {', '.join(i.name for i in dead)}")

    def _bring_back(self) -> None:
        """Held-out instances that run again are probed as a deployment probes its new ones and
        return to HAProxy once healthy, or after ``health.start_timeout`` (HAProxy's own check
        decides then); one stopped meanwhile is simply forgotten."""
        ctx, health = self.ctx, self.ctx.manifest.health
        now = time.monotonic()
        back: list[Instance] = []
        for inst in (ctx.store.instance(i) for i in sorted(ctx.held_out)):
            if inst.state not in ("starting", "running"):
                back.append(inst)  # stopped meanwhile: nothing to hold out
                continue
            if inst.id in self._next_restart or not inst.endpoint or not ctx.runtime.alive(inst.runtime_ref):
                continue  # not started again yet
            warm = self._returning.setdefault(inst.id, Warming(now, now, HealthState()))
            if probe_due(ctx, warm, inst.endpoint, now) is None:
                continue
            if warm.health.healthy or now - warm.started > health.start_timeout:
                back.append(inst)
        if back:
            with ctx.locks.routing:
                for inst in back:
                    ctx.held_out.discard(inst.id)
                    self._returning.pop(inst.id, None)
                ctx.sync_proxy()
            self.loop.note(f"back in traffic: {', '.join(i.name for i in back)}")

    def _start_again(self, instance_id: int) -> None:
        """Start a crashed or stopped instance again in its slot (its endpoint, if still free)."""
        ctx = self.ctx
        with ctx.locks.routing:
            fresh = ctx.store.instance(instance_id)
            if fresh.state not in ("starting", "running"):
                return
            started = start_instance(ctx, self.databases, fresh, ctx.store.release(fresh.release_id))
            self._returning.pop(instance_id, None)  # a new run: probed from the start
            if started.endpoint != fresh.endpoint and instance_id not in ctx.held_out:
                ctx.sync_proxy()

    def _converge_workers(self) -> None:
        """Workers match the rule (``core/workers.py``) in every environment no deployment holds:
        after an instant rollback, a killed control plane, a changed count."""
        ctx = self.ctx
        envs = set(ctx.manifest.environments) | {i.env for i in live_workers(ctx, None)}
        for env in sorted(envs):
            if ctx.store.lock(env) is None:
                for line in converge_workers(ctx, self.databases, env):
                    self.loop.note(f"workers: {line}")

    def _converge_counts(self) -> None:
        """Autoscaled environments' serving colours reach their stored count (``scaling.py``),
        except while a deployment holds them."""
        for env, spec in sorted(self.ctx.manifest.environments.items()):
            if spec.autoscale is not None and self.ctx.store.lock(env) is None:
                self.scaling.converge(env)

    def _replace_hung(self) -> None:
        """Stop each instance the liveness rule condemns and start it again, as a crash restart
        (restarts + 1); never while a deployment holds its environment's lock."""
        ctx = self.ctx
        now = time.monotonic()
        if not self.liveness.due(now):
            return
        for inst, reason in self.liveness.hung(now):
            if ctx.store.lock(inst.env) is not None:
                continue
            with ctx.locks.routing:
                fresh = ctx.store.instance(inst.id)
                if fresh.runtime_ref != inst.runtime_ref or fresh.state != "running":
                    continue  # restarted or stopped meanwhile
                ctx.runtime.stop(fresh.runtime_ref, ctx.manifest.strategy_for(inst.env).stop_timeout)
                ctx.store.update_instance(inst.id, restarts=fresh.restarts + 1)
                self._start_again(inst.id)
            self._record_replaced(inst, reason)

    def _record_replaced(self, inst: Instance, reason: str) -> None:
        """The replacement in the reconciler's notes (status) and in the health history."""
        self.loop.note(f"{inst.env}/{inst.name} replaced: {reason}")
        self.ctx.store.observe.add_health(
            {
                "env": inst.env,
                "instance": inst.name,
                "release_id": inst.release_id,
                "at": time.time(),
                "status": "fail",
                "detail": f"replaced: {reason}",
            }
        )

    def _expire_standby(self) -> None:
        ctx = self.ctx
        now = time.time()
        for route in ctx.store.all_routes():
            if route.standby_colour is None or route.standby_until is None:
                continue
            if route.standby_until > now or ctx.store.lock(route.env) is not None:
                continue
            with ctx.locks.routing:
                standby = ctx.live_instances(route.env, route.standby_colour)
                ctx.store.set_route(
                    Route(
                        route.env,
                        route.active_colour,
                        route.active_release,
                        None,
                        route.standby_release,
                        None,
                    )
                )
            timeout = (
                ctx.manifest.strategy_for(route.env).stop_timeout
                if route.env in ctx.manifest.environments
                else 5.0
            )
            stop_instances(ctx, standby, timeout)
