"""The alerting loop: every ``alerts.interval``, figures -> rule evaluation -> routing -> delivery.

Started and stopped by the engine. One evaluation (``run_once``):

1. probes every instance's health (``HealthWatch``: its history of changes is kept) and
   gathers each environment's figures: per release the request rate, error rate and latency
   percentiles of its servers from the ``TrafficBook`` (HAProxy's per-request log), per
   instance CPU and memory (the runtime's ``usage``) and restarts, per environment failed deployments;
2. evaluates every rule (``core.alerts.evaluate``) against the alerts stored by the
   previous evaluation, so pending and firing alerts survive a restart of the control plane;
3. plans the notifications due (``core.routing`` through the ``Notifier``), hands them to the
   dispatcher (off this thread), and saves alert states and routing groups in one transaction;
4. records every series' figures as metric points (``MetricsRecorder``: rolled up to 5 min,
   expired after a day and a month).

Between evaluations, every ``FLUSH_TICK`` the loop only re-plans notifications over the stored
alerts (``flush``), so a group's ``group_wait`` and ``group_interval`` are kept to the second
rather than rounded up to the next evaluation.

Errors of one evaluation are kept (``errors``, shown in status) and the loop goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from shipyard.core.alerts import METRICS, Alert, Observation, RuleSpec, evaluate
from shipyard.core.proxy import frontend_name
from shipyard.core.records import Instance
from shipyard.drivers.loops import Loop, LoopOwner
from shipyard.drivers.runtime.interface import Usage
from shipyard.engine.context import Context
from shipyard.engine.delivery.healthwatch import HealthWatch
from shipyard.engine.observe.metrics import MetricsRecorder
from shipyard.engine.observe.notifying import Notifier

FAILED = ("failed", "rolled_back")
FLUSH_TICK = 1.0  # routing runs this often, so group_wait is not rounded up to the interval


class Figures:
    """One evaluation's view of the world, computed lazily and once per (metric, window)."""

    def __init__(self, ctx: Context, usage: dict[int, Usage | None], now: float) -> None:
        self.ctx = ctx
        self.usage = usage
        self.now = now

    def observe(self, rule: RuleSpec, envs: list[str]) -> list[Observation]:
        metric = rule.condition.metric
        scope = METRICS[metric].scope
        out: list[Observation] = []
        for env in envs:
            live = self.ctx.live_instances(env)
            if scope == "release":
                out += self._traffic(env, live, metric, rule.window)
            elif scope == "instance":
                for inst in live:
                    value = self._instance(inst, metric, rule.window)
                    labels = (("env", env), ("instance", inst.name), ("release", inst.release_id))
                    out.append(Observation(labels, value))
            elif metric == "failed_deployments":
                out.append(Observation((("env", env),), float(self._failed_deployments(env, rule.window))))
            else:
                fact = self.ctx.facts.get(metric)
                out.append(Observation((("env", env),), fact(env, self.now) if fact else None))
        return out

    def _traffic(self, env: str, live: list[Instance], metric: str, window: float) -> list[Observation]:
        by_release: dict[str, set[str]] = {}
        for inst in live:
            by_release.setdefault(inst.release_id, set()).add(inst.name)
        out = []
        for release, servers in sorted(by_release.items()):
            stats = self.ctx.traffic.window(frontend_name(env), servers, self.now - window, self.now)
            value: float | None
            if metric == "request_rate":
                value = stats.rps
            elif metric == "error_rate":
                value = stats.error_rate
            else:
                ms = {"latency_p50": stats.p50_ms, "latency_p95": stats.p95_ms, "latency_p99": stats.p99_ms}[
                    metric
                ]
                value = ms / 1000 if ms is not None else None
            out.append(Observation((("env", env), ("release", release)), value))
        return out

    def _instance(self, inst: Instance, metric: str, window: float) -> float | None:
        if metric == "restarts":
            return float(self._restarts(inst, window))
        usage = self.usage.get(inst.id)
        if usage is None:
            return None
        return usage.cpu if metric == "cpu" else usage.memory

    def _restarts(self, inst: Instance, window: float) -> int:
        """Restarts within the window: the counter now less its lowest stored value in the window
        (metric points survive a restart of the control plane; a new instance starts at 0)."""
        lowest = self.ctx.store.observe.lowest_value(
            inst.env, "restarts", f"instance={inst.name}", self.now - window
        )
        return max(0, inst.restarts - int(lowest if lowest is not None else inst.restarts))

    def _failed_deployments(self, env: str, window: float) -> int:
        since = self.now - window
        return sum(
            1
            for d in self.ctx.store.deployments(env, 50)
            if d.status in FAILED and (d.finished_at or 0) >= since
        )


class Alerting(LoopOwner):
    def __init__(
        self,
        ctx: Context,
        notifier: Notifier,
        health: HealthWatch | None = None,
        metrics: MetricsRecorder | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ctx = ctx
        self.health = health
        self.metrics = metrics
        self.notifier = notifier
        self.clock = clock
        self.last_run: float | None = None
        self.usage: dict[int, Usage | None] = {}
        self._due = 0.0  # the next evaluation's scheduled time
        self.loop = Loop("alerting", self._step, FLUSH_TICK, error_delay=self._until_due)  # errors: status

    def start(self) -> None:
        # evaluations at fixed times, `interval` apart, each at its scheduled time (as Prometheus
        # does), so `for: 10s` with a 10s interval fires at the second evaluation, not the third
        self._due = self.clock() + self.ctx.manifest.alerts.interval
        self.loop.initial_delay = self._until_due()
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop()
        if self.health is not None:
            self.health.close()
        self.notifier.close()

    def _until_due(self) -> float:
        return max(0.0, min(FLUSH_TICK, self._due - self.clock()))

    def _step(self) -> float:
        """Evaluate when due, else flush; returns the wait before the next step."""
        if self.clock() >= self._due:
            interval = self.ctx.manifest.alerts.interval  # a deploy may have changed it
            at, self._due = self._due, self._due + interval
            if self._due < self.clock():  # fell behind (a slow store): start again from now
                self._due = self.clock() + interval
            self.run_once(at)
        else:
            self.flush()
        return self._until_due()

    def flush(self) -> None:
        """Between evaluations: send what grouping made due since (``group_wait`` has its own clock)."""
        ctx, now = self.ctx, self.clock()
        before = ctx.store.observe.groups()
        messages, groups = self.notifier.plan(ctx.manifest, ctx.store.observe.alerts(), now)
        if messages or groups != before:
            self.notifier.send_alerts(ctx.manifest, messages)
            ctx.store.observe.save_groups(groups)

    def run_once(self, at: float | None = None) -> list[Alert]:
        """One evaluation (at ``at``, default now); returns every alert's new state."""
        ctx, now = self.ctx, at if at is not None else self.clock()
        manifest = ctx.manifest
        self._sample(now)
        if self.health is not None:
            self.health.check(now)
        if self.metrics is not None:  # before the alerts are saved: what they show is on record
            self.metrics.record(self.usage, manifest.alerts.interval, now)
        figures = Figures(ctx, self.usage, now)
        prior = {a.fingerprint: a for a in ctx.store.observe.alerts()}
        by_rule: dict[str, dict[str, Alert]] = {}
        for alert in prior.values():
            by_rule.setdefault(alert.rule, {})[alert.fingerprint] = alert
        alerts: list[Alert] = []
        for name, rule in manifest.alerts.all_rules().items():
            envs = [e for e in manifest.environments if not rule.environments or e in rule.environments]
            spec = rule.spec(name)
            observed = figures.observe(spec, envs)
            alerts += evaluate(spec, observed, by_rule.get(name, {}), now)
        messages, groups = self.notifier.plan(manifest, alerts, now)
        self.notifier.send_alerts(manifest, messages)
        ctx.store.observe.save_evaluation(alerts, groups)
        self.last_run = now
        return alerts

    def _sample(self, now: float) -> None:
        live = [i for env in self.ctx.manifest.environments for i in self.ctx.live_instances(env)]
        usage: dict[int, Usage | None] = {}
        refs = set()
        runtime = self.ctx.runtime
        for inst in live:
            if inst.runtime_ref is not None:
                refs.add(inst.runtime_ref)
                usage[inst.id] = runtime.usage(inst.runtime_ref)
        runtime.forget_usage_except(refs)
        self.usage = usage
