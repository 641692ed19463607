"""Metrics collected continuously: a snapshot of every series, stored, rolled up and expired.

The alerting loop calls ``MetricsRecorder.record`` at every evaluation with the instances'
CPU and memory it sampled; ``snapshot`` is also what ``GET /metrics`` serves. Per release:
request rate, error rate and p50/p95/p99 latency over the last interval (HAProxy's
per-request log through the ``TrafficBook``); per instance: CPU (cores), resident memory
(bytes) and restarts; per environment: the platform facts the engine registers (``backup_age``,
``secrets_overdue``, ``secrets_due``) and, when autoscaled, ``instances`` (the desired web
count). Downsampling and retention follow ``core.metrics``.
"""

from __future__ import annotations

from shipyard.core.metrics import RAW, RAW_KEEP_S, ROLLUP_KEEP_S, ROLLUP_S, Point, bucket_of, rollup
from shipyard.core.proxy import frontend_name
from shipyard.drivers.runtime.interface import Usage
from shipyard.engine.context import Context


def snapshot(ctx: Context, usage: dict[int, Usage | None], window: float, now: float) -> list[Point]:
    points: list[Point] = []
    for env in ctx.manifest.environments:
        live = ctx.live_instances(env)
        by_release: dict[str, set[str]] = {}
        for inst in live:
            by_release.setdefault(inst.release_id, set()).add(inst.name)
        for release, servers in sorted(by_release.items()):
            stats = ctx.traffic.window(frontend_name(env), servers, now - window, now)
            series = f"release={release}"
            points.append(Point(env, "request_rate", series, now, stats.rps))
            if stats.error_rate is not None:
                points.append(Point(env, "error_rate", series, now, stats.error_rate))
            for name, ms in (
                ("latency_p50", stats.p50_ms),
                ("latency_p95", stats.p95_ms),
                ("latency_p99", stats.p99_ms),
            ):
                if ms is not None:
                    points.append(Point(env, name, series, now, ms / 1000))
        for inst in live:
            series = f"instance={inst.name}"
            used = usage.get(inst.id)
            if used is not None and used.cpu is not None:
                points.append(Point(env, "cpu", series, now, used.cpu))
            if used is not None:
                points.append(Point(env, "memory_bytes", series, now, float(used.rss_bytes)))
            points.append(Point(env, "restarts", series, now, float(inst.restarts)))
        if ctx.manifest.environments[env].autoscale is not None:  # the autoscaler's count
            points.append(Point(env, "instances", f"env={env}", now, float(ctx.web_count(env))))
        for name, fact in ctx.facts.items():
            value = fact(env, now)
            if value is not None:
                points.append(Point(env, name, f"env={env}", now, value))
    return points


class MetricsRecorder:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._rolled_until: float | None = None

    def record(self, usage: dict[int, Usage | None], window: float, now: float) -> None:
        store = self.ctx.store.observe
        store.add_points([p.row() for p in snapshot(self.ctx, usage, window, now)])
        self.maintain(now)

    def maintain(self, now: float) -> None:
        """Roll up every complete bucket not rolled up yet; drop what is past its retention."""
        store = self.ctx.store.observe
        if self._rolled_until is None:
            last = store.last_point_at(ROLLUP_S)
            first = store.first_point_at(RAW)
            start = last + ROLLUP_S if last is not None else (bucket_of(first) if first is not None else None)
            self._rolled_until = start if start is not None else bucket_of(now)
        complete = bucket_of(now)
        if complete > self._rolled_until:
            raw = store.points_between(RAW, self._rolled_until, complete)
            store.replace_points(ROLLUP_S, self._rolled_until, complete, rollup(raw))
            self._rolled_until = complete
            store.drop_points(RAW, now - RAW_KEEP_S)
            store.drop_points(ROLLUP_S, now - ROLLUP_KEEP_S)
