"""Alert rules' conditions and the evaluator: inactive -> pending -> firing -> resolved.

Pure: the engine's alerting loop (``engine/observe/alerting.py``) gathers one observation per
series (a rule's metric for one environment, release or instance) and the clock, and
``evaluate`` returns each alert's next state, the way Prometheus does it:

- a condition that holds makes a *pending* alert; one that keeps holding for the rule's
  ``for`` makes it *firing* (at once when ``for`` is 0);
- a pending alert whose condition stops holding is dropped (inactive again);
- a firing alert whose condition stops holding keeps firing for ``keep_firing_for``, then is
  *resolved*; a resolved alert stays listed for ``RESOLVED_KEEP`` seconds, so routing can
  announce it and ``shipyard alerts list`` can show it, then it is dropped.

An observation without a value (no request in the window) does not hold.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from shipyard.core.durations import parse_duration

RESOLVED_KEEP = 3600.0

State = Literal["pending", "firing", "resolved"]


@dataclass(frozen=True)
class Metric:
    name: str
    scope: Literal["release", "instance", "environment"]  # what one series is
    unit: Literal["share", "seconds", "per_second", "count"]
    meaning: str


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("request_rate", "release", "per_second", "requests per second to one release"),
        Metric("error_rate", "release", "share", "share of one release's answers that are 5xx"),
        Metric("latency_p50", "release", "seconds", "median latency of one release"),
        Metric("latency_p95", "release", "seconds", "95th percentile latency of one release"),
        Metric("latency_p99", "release", "seconds", "99th percentile latency of one release"),
        Metric("cpu", "instance", "share", "CPU of one instance (its processes), share of one core"),
        Metric("memory", "instance", "share", "resident memory of one instance, share of the machine's"),
        Metric("restarts", "instance", "count", "restarts of one instance within the window"),
        Metric("failed_deployments", "environment", "count", "deployments that failed or rolled back"),
        Metric("backup_age", "environment", "seconds", "time since the newest moment a good backup restores"),
        Metric("secrets_overdue", "environment", "count", "secrets past their rotation or expiry date"),
        Metric("secrets_due", "environment", "count", "secrets overdue or due within vault.due_within"),
        Metric("cert_expires_in", "environment", "seconds", "time until the HTTPS certificate expires"),
        Metric("cert_renewal_failing", "environment", "count", "ACME orders that failed in a row"),
        Metric("cron_failing", "environment", "count", "scheduled jobs whose latest run failed or timed out"),
        Metric(
            "deploy_success_rate", "environment", "share", "share of changes that succeeded, last 30 days"
        ),
        Metric(
            "change_failure_rate", "environment", "share", "share of live changes that failed, last 30 days"
        ),
        Metric("lead_time", "environment", "seconds", "median commit-to-live time, last 30 days"),
        Metric(
            "time_to_restore", "environment", "seconds", "median failure-to-next-good-deploy, last 30 days"
        ),
    )
}

_OPS = {">": float.__gt__, ">=": float.__ge__, "<": float.__lt__, "<=": float.__le__}
_CONDITION = re.compile(r"^\s*([a-z_0-9]+)\s*(>=|<=|>|<)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Condition:
    metric: str
    op: str
    threshold: float  # shares as 0..1, latencies in seconds
    text: str

    def holds(self, value: float | None) -> bool:
        return value is not None and _OPS[self.op](float(value), self.threshold)


def parse_condition(text: str) -> Condition:
    """``"error_rate > 1%"`` -> Condition. ValueError says what is wrong and what is accepted."""
    found = _CONDITION.match(text)
    if found is None:
        raise ValueError(
            f"{text!r} is not a condition: write `<metric> <op> <value>`, such as `error_rate > 1%`"
        )
    name, op, raw = found.groups()
    metric = METRICS.get(name)
    if metric is None:
        raise ValueError(f"unknown metric {name!r} in {text!r}; metrics: {', '.join(METRICS)}")
    return Condition(name, op, _threshold(metric, raw, text), text.strip())


def _threshold(metric: Metric, raw: str, text: str) -> float:
    if metric.unit == "share":
        if not raw.endswith("%"):
            raise ValueError(f"{metric.name} is a share: write the value with %, such as 80% (in {text!r})")
        try:
            return float(raw[:-1]) / 100
        except ValueError:
            raise ValueError(f"{raw!r} is not a percentage (in {text!r})") from None
    if metric.unit == "seconds":
        if re.fullmatch(r"[\d.]+", raw):
            raise ValueError(f"{metric.name} is a latency: give a unit, such as 300ms or 3s (in {text!r})")
        return parse_duration(raw)
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a number (in {text!r})") from None


@dataclass(frozen=True)
class RuleSpec:
    """What the evaluator needs of a rule (``manifest.alerts.AlertRule.spec`` makes one)."""

    name: str
    condition: Condition
    window: float
    for_s: float
    keep_firing_for: float
    severity: str
    labels: tuple[tuple[str, str], ...] = ()
    summary: str = ""
    runbook_url: str | None = None


@dataclass(frozen=True)
class Observation:
    """One series of one rule at one evaluation: its identifying labels and its value."""

    labels: tuple[tuple[str, str], ...]  # env, and release or instance
    value: float | None


@dataclass(frozen=True)
class Alert:
    rule: str
    fingerprint: str
    labels: tuple[tuple[str, str], ...]  # sorted; alertname, severity, env, ... and the rule's
    annotations: tuple[tuple[str, str], ...]  # summary, runbook_url, value
    state: State
    active_since: float
    fired_at: float | None = None
    resolved_at: float | None = None
    last_true_at: float | None = None
    value: float | None = None

    def label(self, key: str) -> str:
        return dict(self.labels).get(key, "")

    def to_json(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "fingerprint": self.fingerprint,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "state": self.state,
            "active_since": self.active_since,
            "fired_at": self.fired_at,
            "resolved_at": self.resolved_at,
            "last_true_at": self.last_true_at,
            "value": self.value,
        }


def fingerprint(labels: Iterable[tuple[str, str]]) -> str:
    """A stable id of a label set (what Alertmanager calls the alert's fingerprint)."""
    text = json.dumps(sorted(labels), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def format_value(metric: str, value: float | None) -> str:
    if value is None:
        return "no data"
    unit = METRICS[metric].unit
    if unit == "share":
        return f"{value * 100:.3g}%"
    if unit == "seconds":
        return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.3g}s"
    return f"{value:.3g}"


def _labels_of(rule: RuleSpec, obs: Observation) -> tuple[tuple[str, str], ...]:
    merged = {**dict(rule.labels), **dict(obs.labels), "alertname": rule.name, "severity": rule.severity}
    return tuple(sorted(merged.items()))


def _annotations(
    rule: RuleSpec, labels: Mapping[str, str], value: float | None
) -> tuple[tuple[str, str], ...]:
    shown = format_value(rule.condition.metric, value)
    fields = {**labels, "value": shown, "condition": rule.condition.text}
    try:
        summary = rule.summary.format(**fields) if rule.summary else ""
    except (KeyError, IndexError, ValueError):
        summary = rule.summary
    summary = summary or f"{rule.name}: {rule.condition.text} (now {shown})"
    out = {"summary": summary, "value": shown, "condition": rule.condition.text}
    if rule.runbook_url:
        out["runbook_url"] = rule.runbook_url
    return tuple(sorted(out.items()))


def evaluate(
    rule: RuleSpec, observations: Iterable[Observation], prior: Mapping[str, Alert], now: float
) -> list[Alert]:
    """The next state of every alert of ``rule`` (``prior``: its alerts by fingerprint)."""
    out: dict[str, Alert] = {}
    for obs in observations:
        labels = _labels_of(rule, obs)
        fp = fingerprint(labels)
        before = prior.get(fp)
        if rule.condition.holds(obs.value):
            out[fp] = _holds(rule, before, fp, labels, obs.value, now)
        elif before is not None:
            after = _does_not_hold(rule, before, obs.value, now)
            if after is not None:
                out[fp] = after
    for fp, before in prior.items():
        if fp in out:
            continue  # the series was observed above
        after = _does_not_hold(rule, before, None, now)  # the series is gone (instance stopped)
        if after is not None:
            out[fp] = after
    return list(out.values())


def _holds(
    rule: RuleSpec,
    before: Alert | None,
    fp: str,
    labels: tuple[tuple[str, str], ...],
    value: float | None,
    now: float,
) -> Alert:
    annotations = _annotations(rule, dict(labels), value)
    if before is None or before.state == "resolved":
        before = Alert(rule.name, fp, labels, annotations, "pending", active_since=now)
    alert = replace(before, annotations=annotations, last_true_at=now, value=value)
    if alert.state == "pending" and now - alert.active_since >= rule.for_s:
        alert = replace(alert, state="firing", fired_at=now)
    return alert


def _does_not_hold(rule: RuleSpec, before: Alert, value: float | None, now: float) -> Alert | None:
    if before.state == "pending":
        return None
    if before.state == "resolved":
        return before if now - (before.resolved_at or now) < RESOLVED_KEEP else None
    last = before.last_true_at if before.last_true_at is not None else before.active_since
    if now - last < rule.keep_firing_for:
        return replace(before, value=value)
    return replace(before, state="resolved", resolved_at=now, value=value)
