"""The autoscaler: every ``autoscale.interval``, each autoscaled environment's desired web count.

Its loop (built by the composition root, in ``GET /health``) measures the serving colour
(``measure``: CPU per instance through the runtime, requests per instance and p95 latency from
HAProxy's log through the ``TrafficBook``, HAProxy's queue), asks the pure decision
(``core/autoscale.py``, or ``core/autoscale_rules.py`` for step rules) and stores the decision,
with the new desired count, in one transaction (``state/autoscale.py``); the reconciler's
``Scaling`` converges on it. It holds while a deployment holds the environment's lock (the
deployment started the new colour at the desired count; a canary keeps its split) and while a
count is pinned (``shipyard scale ENV N``). Each change is a ``autoscale.scaled`` event to the
deployment event receivers. Runtime-neutral: it reads only the seams of ``Context``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from shipyard.core.autoscale import Change, Decision, Recommendation, Sample, decide
from shipyard.core.autoscale_rules import decide_by_rules, scheduled_minimum
from shipyard.core.proxy import backend_name, frontend_name
from shipyard.drivers.loops import Loop, LoopOwner
from shipyard.engine.context import Context
from shipyard.errors import InputError, NotFoundError
from shipyard.manifest.autoscale import Autoscale

HISTORY_S = 3600.0  # the longest window or rule duration the samples and changes are kept for


class Autoscaler(LoopOwner):
    def __init__(self, ctx: Context, tick: float = 1.0, clock: Callable[[], float] = time.time) -> None:
        self.ctx = ctx
        self.clock = clock
        self._due: dict[str, float] = {}
        self._samples: dict[str, list[Sample]] = {}
        self._recent: dict[str, list[Recommendation]] = {}
        self._changes: dict[str, list[Change]] = {}
        self.loop = Loop("autoscaler", self.run_once, tick)

    def start(self) -> None:
        self.resume()
        self.loop.start()

    def resume(self) -> None:
        """After a restart: the recent recommendations and changes, from the stored decisions."""
        now = self.clock()
        for env in self.ctx.manifest.environments:
            rows = self.ctx.store.autoscale.decisions(env, limit=1000, since=now - HISTORY_S)
            self._recent[env] = [
                Recommendation(r["at"], r["recommendation"]) for r in rows if r["rule"] != "pinned"
            ]
            self._changes[env] = [
                Change(r["at"], r["current"], r["desired"]) for r in rows if r["desired"] != r["current"]
            ]

    def wake(self, env: str) -> None:
        """Evaluate ``env`` at the next tick (back to automatic)."""
        self._due.pop(env, None)

    def run_once(self) -> None:
        now = self.clock()
        for env, spec in sorted(self.ctx.manifest.environments.items()):
            if spec.autoscale is not None and now >= self._due.get(env, 0.0):
                self._due[env] = now + spec.autoscale.interval
                self.evaluate(env, spec.autoscale, now)

    def evaluate(self, env: str, scale: Autoscale, now: float) -> Decision | None:
        """One evaluation of ``env``: decide, store, announce a change; None when nothing serves."""
        ctx = self.ctx
        route = ctx.store.route(env)
        if route.active_colour is None:
            return None
        state = ctx.store.autoscale.get(env)
        current = state.desired if state is not None else ctx.web_count(env)
        sample = Sample(now, self.measure(env, scale.interval, now))
        samples = self._keep(self._samples.setdefault(env, []), sample, now)
        if ctx.store.lock(env) is not None:
            decision = Decision(current, current, "deployment", "a deployment holds the environment")
        elif state is not None and state.pinned is not None:
            decision = Decision(
                current, state.pinned, "pinned", f"pinned to {state.pinned} by {state.pinned_by}"
            )
        else:
            decision = self._decide(env, scale, now, current, samples)
        self._record(env, now, current, decision, sample.values)
        return decision

    def _decide(
        self, env: str, scale: Autoscale, now: float, current: int, samples: list[Sample]
    ) -> Decision:
        spec = scale.scaling()
        floor = scheduled_minimum(scale.minimums(), now)
        changes = self._changes.setdefault(env, [])
        if spec.rules:
            decision = decide_by_rules(spec, now, current, samples, changes, floor)
        else:
            decision = decide(spec, now, current, samples, self._recent.get(env, []), changes, floor)
        self._keep(self._recent.setdefault(env, []), Recommendation(now, decision.recommendation), now)
        if decision.desired != current:
            self._keep(changes, Change(now, current, decision.desired), now)
        return decision

    def measure(self, env: str, window: float, now: float) -> dict[str, float | None]:
        """The serving colour's figures: CPU in % of a core per instance (mean), requests per
        second per instance and p95 latency (s) over the last ``window``, requests queued."""
        ctx = self.ctx
        route = ctx.store.route(env)
        serving = [
            i
            for i in ctx.live_instances(env, route.active_colour)
            if i.release_id == route.active_release and i.state == "running"
        ]
        if not serving:
            return {"cpu": None, "requests_per_instance": None, "latency_p95": None, "queue": None}
        usages = [ctx.runtime.usage(i.runtime_ref) if i.runtime_ref else None for i in serving]
        cpus = [u.cpu * 100 for u in usages if u is not None and u.cpu is not None]
        stats = ctx.traffic.window(frontend_name(env), {i.name for i in serving}, now - window, now)
        backend = backend_name(env, route.active_colour or "")
        queues = ctx.proxy.queued().get(backend)
        return {
            "cpu": sum(cpus) / len(cpus) if len(cpus) == len(serving) else None,
            "requests_per_instance": stats.rps / len(serving),
            "latency_p95": stats.p95_ms / 1000 if stats.p95_ms is not None else None,
            "queue": float(queues) if queues is not None else None,
        }

    def _record(
        self, env: str, now: float, current: int, decision: Decision, values: Mapping[str, Any]
    ) -> None:
        row = {
            "at": now,
            "current": current,
            "desired": decision.desired,
            "recommendation": decision.recommendation,
            "rule": decision.rule,
            "reason": decision.reason,
            "metrics": dict(values),
        }
        self.ctx.store.autoscale.record(env, row, decision.desired if decision.desired != current else None)
        if decision.desired != current:
            self.loop.note(f"{env}: {current} -> {decision.desired} instances ({decision.rule})")
            self._announce(env, current, decision, now)

    def _announce(self, env: str, current: int, decision: Decision, now: float) -> None:
        if self.ctx.notifier is None:
            return
        event = {
            "event": "autoscale.scaled",
            "app": self.ctx.manifest.app,
            "env": env,
            "status": "scaled",
            "release": self.ctx.store.route(env).active_release,
            "from": current,
            "to": decision.desired,
            "reason": f"{env}: {current} -> {decision.desired} instances ({decision.rule})",
            "at": now,
        }
        self.ctx.notifier.deployment_event(self.ctx.manifest, event, lambda ok, message: None)

    @staticmethod
    def _keep(items: list[Any], item: Any, now: float) -> list[Any]:
        items.append(item)
        items[:] = [i for i in items if i.at > now - HISTORY_S]
        return items


class ScaleControl:
    """``shipyard scale``: pin a count, return to automatic, read the state and the decisions.
    Built by the composition root over the autoscaler; the API's scale routes call it."""

    def __init__(self, ctx: Context, autoscaler: Autoscaler) -> None:
        self.ctx = ctx
        self.autoscaler = autoscaler

    def pin(self, env: str, count: int | None, by: str) -> dict[str, Any]:
        """Pin ``env`` at ``count`` (None: back to automatic); stored with a decision row."""
        scale = self._scale(env)
        if count is not None and not 1 <= count <= scale.max:
            raise InputError(
                f"{count} instances is outside 1 to autoscale.max ({scale.max}) of {env}",
                f"give a count from 1 to {scale.max}, or raise environments.{env}.autoscale.max",
            )
        current = self.ctx.web_count(env)
        state = self.ctx.store.autoscale.get(env)
        desired = state.desired if state is not None else current
        what = f"pinned to {count} by {by}" if count is not None else f"automatic again ({by})"
        row: dict[str, Any] = {
            "at": time.time(),
            "current": current,
            "desired": count if count is not None else desired,
            "recommendation": count if count is not None else desired,
            "rule": "pinned" if count is not None else "auto",
            "reason": what,
            "metrics": {},
        }
        self.ctx.store.autoscale.record(env, row, desired, (count, by if count is not None else ""))
        if count is None:
            self.autoscaler.wake(env)
        return self.describe(env)

    def describe(self, env: str) -> dict[str, Any]:
        scale = self._scale(env)
        state = self.ctx.store.autoscale.get(env)
        route = self.ctx.store.route(env)
        live = [
            i
            for i in self.ctx.live_instances(env, route.active_colour)
            if i.release_id == route.active_release
        ]
        last = self.ctx.store.autoscale.decisions(env, limit=1)
        return {
            "env": env,
            "min": scale.min,
            "max": scale.max,
            "desired": self.ctx.web_count(env),
            "pinned": state.pinned if state is not None else None,
            "pinned_by": state.pinned_by if state is not None else "",
            "serving": sum(1 for i in live if i.state == "running"),
            "starting": sum(1 for i in live if i.state == "starting"),
            "last": last[0] if last else None,
        }

    def history(self, env: str, limit: int) -> list[dict[str, Any]]:
        self._scale(env)
        return self.ctx.store.autoscale.decisions(env, limit=limit)

    def _scale(self, env: str) -> Autoscale:
        spec = self.ctx.manifest.environments.get(env)
        if spec is None:
            raise NotFoundError(
                f"unknown environment {env[:40]!r}",
                f"use one of: {', '.join(sorted(self.ctx.manifest.environments))}",
            )
        if spec.autoscale is None:
            raise InputError(
                f"{env} has no autoscale: its count is environments.{env}.instances",
                f"add environments.{env}.autoscale (min, max, targets) to shipyard.yaml",
            )
        return spec.autoscale
