"""``GET /metrics``: Shipyard's own and the apps' figures in Prometheus' text format.

``server/observe.py`` calls ``render_metrics`` per scrape with the environments the token
may read. The figures are read at scrape time through prometheus-client's custom-collector
interface: the apps' per-release traffic over the last minute (HAProxy's per-request log),
each instance's CPU, memory, restarts and health, the alerts and notification outcomes, and
the control plane's own process figures (``process_*``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector

from shipyard.engine.engine import Engine

WINDOW_S = 60.0
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

APP_GAUGES = {
    "request_rate": ("shipyard_app_requests_per_second", "Requests per second to a release, last minute."),
    "error_rate": ("shipyard_app_error_ratio", "Share of a release's answers that are 5xx, last minute."),
    "cpu": ("shipyard_instance_cpu_cores", "CPU of an instance's processes (1 = one core busy)."),
    "memory_bytes": ("shipyard_instance_memory_bytes", "Resident memory of an instance's processes."),
}
FACT_GAUGES = {
    "backup_age": ("shipyard_backup_age_seconds", "Seconds since the newest moment a good backup restores."),
    "secrets_overdue": ("shipyard_secrets_overdue", "Secrets past their rotation or expiry date."),
    "secrets_due": ("shipyard_secrets_due", "Secrets overdue or due within vault.due_within."),
    "cert_expires_in": ("shipyard_cert_expires_in_seconds", "Seconds until the HTTPS certificate expires."),
    "instances": ("shipyard_instances_desired", "Web instances per colour the autoscaler wants."),
    "deploy_success_rate": (
        "shipyard_deploy_success_ratio",
        "Share of changes that succeeded, last 30 days.",
    ),
    "change_failure_rate": (
        "shipyard_change_failure_ratio",
        "Share of live changes that failed, last 30 days.",
    ),
    "lead_time": ("shipyard_lead_time_seconds", "Median time from commit to live, last 30 days."),
    "time_to_restore": (
        "shipyard_time_to_restore_seconds",
        "Median time from a failure to the next good deploy.",
    ),
}
QUANTILES = {"latency_p50": "0.5", "latency_p95": "0.95", "latency_p99": "0.99"}


class _Figures:
    def __init__(self, engine: Engine, envs: set[str]) -> None:
        self.engine = engine
        self.envs = envs

    def collect(self) -> Iterator[Metric]:
        observe, now = self.engine.observe, time.time()
        info = GaugeMetricFamily("shipyard_info", "Shipyard's version and app.", labels=["version", "app"])
        info.add_metric([shipyard_version(), observe.app()], 1)
        yield info
        proxy = GaugeMetricFamily("shipyard_haproxy_up", "1 when HAProxy runs.")
        proxy.add_metric([], 1 if observe.proxy_running() else 0)
        yield proxy
        lines = CounterMetricFamily("shipyard_access_log_lines", "HAProxy per-request log lines received.")
        lines.add_metric([], observe.access_lines())
        yield lines
        yield from self._apps(now)
        yield from self._alerts()

    def _apps(self, now: float) -> Iterator[Metric]:
        observe = self.engine.observe
        points = [p for p in observe.snapshot(WINDOW_S, now) if p.env in self.envs]
        for metric, (name, doc) in APP_GAUGES.items():
            scope = "release" if metric in ("request_rate", "error_rate") else "instance"
            family = GaugeMetricFamily(name, doc, labels=["env", scope])
            for p in points:
                if p.metric == metric:
                    family.add_metric([p.env, p.series.split("=", 1)[1]], p.value)
            yield family
        latency = GaugeMetricFamily(
            "shipyard_app_latency_seconds",
            "Latency percentiles of a release, last minute.",
            labels=["env", "release", "quantile"],
        )
        restarts = CounterMetricFamily(
            "shipyard_instance_restarts", "Restarts of an instance.", labels=["env", "instance"]
        )
        for p in points:
            if p.metric in QUANTILES:
                latency.add_metric([p.env, p.series.split("=", 1)[1], QUANTILES[p.metric]], p.value)
            elif p.metric == "restarts":
                restarts.add_metric([p.env, p.series.split("=", 1)[1]], p.value)
        yield latency
        yield restarts
        for metric, (name, doc) in FACT_GAUGES.items():
            family = GaugeMetricFamily(name, doc, labels=["env"])
            for p in points:
                if p.metric == metric:
                    family.add_metric([p.env], p.value)
            yield family
        healthy = GaugeMetricFamily(
            "shipyard_instance_healthy",
            "1 when the instance's last probe passed.",
            labels=["env", "instance"],
        )
        for env in sorted(self.envs):
            for inst, last in observe.last_probes(env):
                if last is not None:
                    healthy.add_metric([env, inst.name], 1 if last.ok else 0)
        yield healthy

    def _alerts(self) -> Iterator[Metric]:
        observe = self.engine.observe
        alerts = GaugeMetricFamily(
            "shipyard_alerts",
            "Alerts by state (1 per alert).",
            labels=["alertname", "env", "severity", "state"],
        )
        for a in observe.alerts():
            if a.label("env") in self.envs:
                alerts.add_metric([a.rule, a.label("env"), a.label("severity"), a.state], 1)
        yield alerts
        counts: dict[tuple[str, str, str], int] = {}
        for d in observe.deliveries(1000):
            key = (d["receiver"], d["receiver_kind"], d["status"])
            counts[key] = counts.get(key, 0) + 1
        deliveries = GaugeMetricFamily(
            "shipyard_notification_deliveries",
            "Notification outcomes among the last 1000 kept.",
            labels=["receiver", "kind", "status"],
        )
        for (receiver, kind, status), count in sorted(counts.items()):
            deliveries.add_metric([receiver, kind, status], count)
        yield deliveries
        alerting = self.engine.alerting
        if alerting is not None and alerting.last_run is not None:
            last = GaugeMetricFamily(
                "shipyard_alerting_last_evaluation_timestamp_seconds", "When the alert rules last ran."
            )
            last.add_metric([], alerting.last_run)
            yield last


def shipyard_version() -> str:
    try:
        return version("shipyard")
    except PackageNotFoundError:
        return "unknown"


def render_metrics(engine: Engine, envs: set[str]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Figures(engine, envs))
    ProcessCollector(registry=registry)  # the control plane's own CPU, memory, open files
    return generate_latest(registry)
