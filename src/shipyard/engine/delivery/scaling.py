"""Converging an environment's serving colour on its stored web count (``Context.web_count``).

The reconciler calls ``Scaling.converge`` on each tick for every autoscaled environment no
deployment holds; each call only takes steps that return at once, so restarts of crashed
instances are never held up. Scale-out: a new instance of the serving release starts in a free
slot of the serving colour as ``starting``, which the layout keeps in maintenance
(``core/layout.py`` ``routable``); it is probed as a deployment probes (``health.path``,
``healthy_threshold`` successes in a row) and only then marked ``running``, so HAProxy sends
it requests. One that is not healthy within ``health.start_timeout`` is stopped (the next
tick starts another). Scale-in: the instances in the highest slots (not yet healthy ones
first) are marked ``stopping`` and HAProxy is synced (their servers go into maintenance: no new
request, the ones in flight finish); once HAProxy counts no session on a server (or after the
strategy's ``stop_timeout``) its instance is stopped. A control plane killed meanwhile stops
the ``stopping`` ones at start (``reconcile_at_start``) and resumes probing the ``starting``
ones. Runtime-neutral: everything goes through ``Context`` (runtime, proxy, prober, store).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from shipyard.core.instance_health import HealthState, observe
from shipyard.core.proxy import backend_name
from shipyard.core.records import Instance, NewInstance, Route
from shipyard.drivers.runtime.interface import ProbeResult
from shipyard.engine.context import Context
from shipyard.engine.data.database import AppDatabases
from shipyard.engine.delivery.instances import start_instance


@dataclass
class Warming:
    """A new instance on its way to its health threshold."""

    started: float
    next_probe: float
    health: HealthState


def probe_due(ctx: Context, warm: Warming, endpoint: str, now: float) -> ProbeResult | None:
    """Probe a warming instance once its next probe is due (None: not yet), as a deployment
    probes its new instances; ``warm`` moves on with the answer."""
    if now < warm.next_probe:
        return None
    health = ctx.manifest.health
    result = ctx.prober.get(endpoint, health.path, health.timeout)
    warm.health = observe(warm.health, result.ok, health.healthy_threshold, health.unhealthy_threshold)
    warm.next_probe = now + health.interval
    return result


class Scaling:
    def __init__(self, ctx: Context, databases: AppDatabases, note: Callable[[str], None]) -> None:
        self.ctx = ctx
        self.databases = databases
        self.note = note  # the reconciler's notes (status)
        self._warming: dict[int, Warming] = {}
        self._draining: dict[int, float] = {}  # instance id -> when it is stopped at the latest

    def converge(self, env: str) -> None:
        """One step towards ``env``'s count; call again on the next tick."""
        ctx = self.ctx
        route = ctx.store.route(env)
        if route.active_colour is None or route.active_release is None:
            return  # nothing serves yet: the first deployment starts the count
        self._finish_draining(env, route)
        serving = [
            i for i in ctx.live_instances(env, route.active_colour) if i.release_id == route.active_release
        ]
        wanted = ctx.web_count(env)
        if len(serving) < wanted:
            self._add(env, route, serving, wanted - len(serving))
        elif len(serving) > wanted:
            self._remove(env, serving, len(serving) - wanted)
        self._probe([i for i in serving if i.state == "starting"])

    def _add(self, env: str, route: Route, serving: list[Instance], count: int) -> None:
        ctx = self.ctx
        colour, release = route.active_colour, ctx.store.release(route.active_release or "")
        assert colour is not None
        with ctx.locks.routing:
            taken = {i.slot for i in ctx.store.instances(env) if i.colour == colour and i.state != "stopped"}
            free = [n for n in range(len(taken) + count) if n not in taken][:count]
            for slot in free:
                inst_id = ctx.store.add_instance(NewInstance(env, colour, slot, release.id, time.time()))
                run = start_instance(ctx, self.databases, ctx.store.instance(inst_id), release)
                now = time.monotonic()
                self._warming[inst_id] = Warming(now, now, HealthState())
                self.note(f"{env}: {colour}-{slot} added ({run.label}), waiting for its health check")
            ctx.sync_proxy()  # its server stays in maintenance until it is healthy

    def _remove(self, env: str, serving: list[Instance], count: int) -> None:
        ctx = self.ctx
        order = sorted(serving, key=lambda i: (i.state == "running", -i.slot))
        leaving = order[:count]
        grace = ctx.manifest.strategy_for(env).stop_timeout
        with ctx.locks.routing:
            for inst in leaving:
                ctx.store.update_instance(inst.id, state="stopping")
                self._warming.pop(inst.id, None)
                self._draining[inst.id] = time.monotonic() + grace
            ctx.sync_proxy()  # out of HAProxy first: no new request reaches them
        self.note(f"{env}: draining {', '.join(i.name for i in leaving)} before it stops")

    def _finish_draining(self, env: str, route: Route) -> None:
        ctx = self.ctx
        mine = [i for i in ctx.store.instances(env) if i.id in self._draining and i.state == "stopping"]
        if not mine:
            return
        busy = {
            s.name: s.current_sessions
            for s in ctx.proxy.server_states()
            if s.backend == backend_name(env, mine[0].colour)
        }
        now = time.monotonic()
        for inst in mine:
            if busy.get(inst.name, 0) > 0 and now < self._draining[inst.id]:
                continue
            ctx.runtime.stop(inst.runtime_ref, ctx.manifest.strategy_for(env).stop_timeout)
            ctx.store.update_instance(inst.id, state="stopped")
            del self._draining[inst.id]
            self.note(f"{env}: {inst.name} drained and stopped")

    def _probe(self, warming: list[Instance]) -> None:
        ctx = self.ctx
        health = ctx.manifest.health
        now = time.monotonic()
        for inst in warming:
            state = self._warming.setdefault(inst.id, Warming(now, now, HealthState()))  # adopted
            if inst.endpoint is None or (result := probe_due(ctx, state, inst.endpoint, now)) is None:
                continue
            if state.health.healthy:
                with ctx.locks.routing:
                    ctx.store.update_instance(inst.id, state="running")
                    ctx.sync_proxy()
                del self._warming[inst.id]
                self.note(f"{inst.env}: {inst.name} healthy after {now - state.started:.1f}s, serving")
            elif now - state.started > health.start_timeout:
                ctx.runtime.stop(inst.runtime_ref, 5.0)
                ctx.store.update_instance(inst.id, state="stopped")
                del self._warming[inst.id]
                self.note(
                    f"{inst.env}: {inst.name} not healthy within {health.start_timeout:g}s "
                    f"(GET {health.path}: {result.error or result.status}); stopped"
                )
