"""Alert rules: conditions, the inactive -> pending -> firing -> resolved evaluator (fake clock),
and the manifest's validation of rules."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from shipyard.core.alerts import RESOLVED_KEEP, Alert, Observation, RuleSpec, evaluate, parse_condition
from shipyard.errors import ManifestError
from shipyard.manifest.alerts import DEFAULT_RULES, AlertRule, Alerts
from shipyard.manifest.loader import parse_manifest


@pytest.mark.parametrize(
    ("text", "metric", "op", "threshold"),
    [
        ("error_rate > 1%", "error_rate", ">", 0.01),
        ("latency_p95 > 3s", "latency_p95", ">", 3.0),
        ("latency_p99>=250ms", "latency_p99", ">=", 0.25),
        ("cpu > 80%", "cpu", ">", 0.8),
        ("request_rate < 0.5", "request_rate", "<", 0.5),
        ("restarts > 3", "restarts", ">", 3.0),
    ],
)
def test_conditions_parse_with_units(text: str, metric: str, op: str, threshold: float) -> None:
    cond = parse_condition(text)
    assert (cond.metric, cond.op) == (metric, op)
    assert cond.threshold == pytest.approx(threshold)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("error_rate > 1", "write the value with %"),
        ("latency_p95 > 3", "give a unit"),
        ("errors > 1%", "unknown metric 'errors'"),
        ("error_rate 1%", "is not a condition"),
        ("cpu > lots%", "is not a percentage"),
    ],
)
def test_bad_conditions_say_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_condition(text)


def rule(for_s: float = 0, keep: float = 0, expr: str = "error_rate > 1%") -> RuleSpec:
    return RuleSpec("Errors", parse_condition(expr), 60, for_s, keep, "warning", (("team", "web"),))


ENV = (("env", "dev"), ("release", "r2"))


def run(spec: RuleSpec, values: list[tuple[float, float | None]]) -> list[str]:
    """Evaluate ``spec`` at each (time, value); the state after each ('-' when inactive)."""
    prior: dict[str, Alert] = {}
    states: list[str] = []
    for now, value in values:
        alerts = evaluate(spec, [Observation(ENV, value)], prior, now)
        prior = {a.fingerprint: a for a in alerts}
        states.append(alerts[0].state if alerts else "-")
    return states


@pytest.mark.parametrize(
    ("for_s", "keep", "values", "states"),
    [
        # for = 0: fires at once, resolves as soon as the condition stops holding
        (0, 0, [(0, 0.0), (10, 0.2), (20, 0.2), (30, 0.0)], ["-", "firing", "firing", "resolved"]),
        # for = 20s: pending until it has held 20 s
        (20, 0, [(0, 0.2), (10, 0.2), (20, 0.2), (30, 0.2)], ["pending", "pending", "firing", "firing"]),
        # a pending alert that stops holding is dropped, and starts over
        (
            20,
            0,
            [(0, 0.2), (10, 0.0), (20, 0.2), (30, 0.2), (40, 0.2)],
            ["pending", "-", "pending", "pending", "firing"],
        ),
        # keep_firing_for keeps a firing alert up while the condition flaps
        (0, 25, [(0, 0.2), (10, 0.0), (20, 0.0), (30, 0.0)], ["firing", "firing", "firing", "resolved"]),
        (0, 25, [(0, 0.2), (10, 0.0), (20, 0.2), (40, 0.0), (70, 0.0)], ["firing"] * 4 + ["resolved"]),
        # no data (no request in the window) does not hold
        (0, 0, [(0, None), (10, 0.2), (20, None)], ["-", "firing", "resolved"]),
        # a resolved alert whose condition holds again is a new pending alert
        (
            10,
            0,
            [(0, 0.2), (10, 0.2), (20, 0.0), (30, 0.2), (40, 0.2)],
            ["pending", "firing", "resolved", "pending", "firing"],
        ),
    ],
)
def test_state_machine(
    for_s: float, keep: float, values: list[tuple[float, float | None]], states: list[str]
) -> None:
    assert run(rule(for_s, keep), values) == states


def test_alert_carries_labels_annotations_and_times() -> None:
    spec = RuleSpec(
        "Errors",
        parse_condition("error_rate > 1%"),
        60,
        10,
        0,
        "critical",
        (("team", "web"),),
        summary="{env} {release}: {value} errors",
        runbook_url="https://runbooks.example/errors",
    )
    first = evaluate(spec, [Observation(ENV, 0.2)], {}, 100.0)[0]
    fired = evaluate(spec, [Observation(ENV, 0.25)], {first.fingerprint: first}, 110.0)[0]
    assert fired.state == "firing" and fired.active_since == 100.0 and fired.fired_at == 110.0
    assert dict(fired.labels) == {
        "alertname": "Errors",
        "severity": "critical",
        "team": "web",
        "env": "dev",
        "release": "r2",
    }
    notes = dict(fired.annotations)
    assert notes["summary"] == "dev r2: 25% errors"
    assert notes["runbook_url"] == "https://runbooks.example/errors"
    assert fired.fingerprint == first.fingerprint  # same labels, same alert


def test_series_are_separate_and_a_vanished_series_resolves() -> None:
    spec = rule()
    a, b = (("env", "dev"), ("release", "r1")), (("env", "dev"), ("release", "r2"))
    alerts = evaluate(spec, [Observation(a, 0.5), Observation(b, 0.0)], {}, 0)
    assert [dict(x.labels)["release"] for x in alerts] == ["r1"]
    prior = {x.fingerprint: x for x in alerts}
    after = evaluate(spec, [Observation(b, 0.0)], prior, 10)  # r1's instances are gone
    assert [(dict(x.labels)["release"], x.state) for x in after] == [("r1", "resolved")]
    later = evaluate(spec, [], {x.fingerprint: x for x in after}, 10 + RESOLVED_KEEP)
    assert later == []


def test_default_rules_follow_the_guides() -> None:
    conditions = {name: r.condition for name, r in DEFAULT_RULES.items()}
    assert (conditions["LatencyP95High"].threshold, DEFAULT_RULES["LatencyP95High"].severity) == (
        3.0,
        "warning",
    )
    assert (conditions["LatencyP95Critical"].threshold, DEFAULT_RULES["LatencyP95Critical"].severity) == (
        5.0,
        "critical",
    )
    assert conditions["ErrorRateHigh"].threshold == pytest.approx(0.01)
    assert conditions["ErrorRateCritical"].threshold == pytest.approx(0.05)
    assert conditions["CpuHigh"].threshold == pytest.approx(0.80)
    assert conditions["MemoryHigh"].threshold == pytest.approx(0.85)
    assert DEFAULT_RULES["InstanceRestarting"].window == 3600


def test_manifest_rules_replace_and_disable_defaults() -> None:
    alerts = Alerts.model_validate(
        {
            "rules": {
                "ErrorRateHigh": {"expr": "error_rate > 2%", "for": "1m"},
                "CpuHigh": {"expr": "cpu > 80%", "enabled": False},
                "SlowP99": {"expr": "latency_p99 > 1s", "severity": "critical", "keep_firing_for": "5m"},
            }
        }
    )
    rules = alerts.all_rules()
    assert (
        rules["ErrorRateHigh"].condition.threshold == pytest.approx(0.02)
        and rules["ErrorRateHigh"].for_ == 60
    )
    assert "CpuHigh" not in rules and "SlowP99" in rules and "LatencyP95High" in rules
    assert set(Alerts.model_validate({"default_rules": False}).all_rules()) == set()


BASE = "app: a\nprocesses: {web: {command: x}}\nenvironments: {dev: {port: 8080}}\n"


@pytest.mark.parametrize(
    ("extra", "where", "problem"),
    [
        ("alerts: {rules: {Bad: {expr: 'error_rate > 1'}}}", "alerts.rules.Bad.expr", "with %"),
        ("alerts: {rules: {Bad: {expr: 'cpu > 80%', for: soon}}}", "alerts.rules.Bad.for", "not a duration"),
        (
            "alerts: {rules: {Bad: {expr: 'cpu > 80%', severity: page}}}",
            "alerts.rules.Bad.severity",
            "critical",
        ),
        (
            "alerts: {rules: {Bad: {expr: 'cpu > 80%', environments: [prod]}}}",
            "alerts",
            "unknown environment",
        ),
        (
            "notifications: {routes: [{match: {severity: critical}, receivers: [pager]}]}",
            "notifications",
            "receiver 'pager'",
        ),
        ("notifications: {receivers: {x: {slack: {}}}}", "notifications.receivers.x.slack", "url"),
        (
            "notifications: {receivers: {x: {slack: {url: 'http://a'}, teams: {url: 'http://b'}}}}",
            "notifications.receivers.x",
            "exactly one",
        ),
    ],
)
def test_malformed_rules_and_routes_are_clear_errors(extra: str, where: str, problem: str) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(yaml.safe_load(BASE + extra), "shipyard.yaml")
    assert where in caught.value.message and problem in caught.value.message, caught.value.message


def test_legacy_webhook_is_a_receiver() -> None:
    manifest = parse_manifest(yaml.safe_load(BASE + "notifications: {webhook: 'http://127.0.0.1:9/h'}"))
    receivers = manifest.notifications.all_receivers()
    assert receivers["webhook"].kind == "webhook"


def test_rule_model_refuses_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        AlertRule.model_validate({"expr": "cpu > 80%", "four": "1m"})
