"""Notification routing: routes, silences, grouping with group_wait / group_interval /
repeat_interval (fake clock), and the messages rendered for each receiver kind."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from shipyard.core.alerts import Alert, fingerprint
from shipyard.core.messages import alert_message, deployment_labels, deployment_message
from shipyard.core.routing import Grouping, Silence, matches, plan_notices, receivers_for
from shipyard.manifest.alerts import NotifyRoute


def alert(
    name: str = "Errors",
    env: str = "prod",
    severity: str = "critical",
    state: str = "firing",
    release: str = "r2",
) -> Alert:
    labels = tuple(sorted({"alertname": name, "env": env, "severity": severity, "release": release}.items()))
    return Alert(
        name,
        fingerprint(labels),
        labels,
        (("summary", f"{name} in {env}"),),
        state,  # type: ignore[arg-type]
        active_since=0.0,
        fired_at=0.0 if state != "pending" else None,
        resolved_at=50.0 if state == "resolved" else None,
    )


ROUTES = (
    NotifyRoute.model_validate(
        {"match": {"severity": "critical", "env": "prod"}, "receivers": ["pager"], "continue": True}
    ),
    NotifyRoute.model_validate({"match": {"severity": "critical|warning"}, "receivers": ["chat"]}),
    NotifyRoute.model_validate({"match": {"kind": "deployment"}, "receivers": ["mail"]}),
)


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        ({"severity": "critical", "env": "prod"}, ["pager", "chat"]),  # continue: the next route too
        ({"severity": "critical", "env": "dev"}, ["chat"]),
        ({"severity": "warning", "env": "prod"}, ["chat"]),
        ({"severity": "info", "env": "prod"}, ["default"]),
        ({"severity": "info", "kind": "deployment"}, ["mail"]),
    ],
)
def test_routes_first_match_with_continue(labels: dict[str, str], receivers: list[str]) -> None:
    assert receivers_for(labels, ROUTES, ["default"]) == receivers


def test_matchers() -> None:
    assert matches({"env": "prod|staging"}, {"env": "staging"})
    assert not matches({"env": "prod"}, {})
    assert matches({"team": "*"}, {"team": "web"}) and not matches({"team": "*"}, {})


G = Grouping(group_by=("alertname", "env"), group_wait=5, group_interval=60, repeat_interval=3600)


def step(
    alerts: list[Alert], groups: dict[str, Any], now: float, silences: tuple[Silence, ...] = ()
) -> tuple[list[Any], dict[str, Any]]:
    targets = {a.fingerprint: ["chat"] for a in alerts}
    return plan_notices(alerts, targets, groups, G, list(silences), now)


def test_group_wait_then_one_notice_for_the_group() -> None:
    a, b = alert(release="r1"), alert(release="r2")  # same alertname and env: one group
    notices, groups = step([a], {}, 0)
    assert notices == [] and len(groups) == 1  # waiting group_wait
    notices, groups = step([a, b], groups, 5)
    assert len(notices) == 1 and {x.fingerprint for x in notices[0].firing} == {a.fingerprint, b.fingerprint}
    assert notices[0].status == "firing"


def test_group_interval_repeat_interval_and_resolution() -> None:
    a, b = alert(release="r1"), alert(release="r2")
    _, groups = step([a], {}, 0)
    sent, groups = step([a], groups, 5)
    assert len(sent) == 1
    assert step([a], groups, 30)[0] == []  # nothing changed: no repeat before repeat_interval
    assert step([a, b], groups, 30)[0] == []  # changed, but group_interval has not passed
    sent, groups = step([a, b], groups, 65)
    assert len(sent) == 1 and len(sent[0].firing) == 2
    assert step([a, b], groups, 65 + 3599)[0] == []
    sent, groups = step([a, b], groups, 65 + 3600)  # repeat_interval: still firing, said again
    assert len(sent) == 1
    done_a, done_b = replace(a, state="resolved"), replace(b, state="resolved")
    sent, groups = step([done_a, done_b], groups, 65 + 3600 + 60)
    assert sent[0].status == "resolved" and len(sent[0].resolved) == 2
    assert groups == {}  # a resolved group is forgotten


def test_pending_alerts_and_alerts_resolved_before_notice_say_nothing() -> None:
    assert step([alert(state="pending")], {}, 0) == ([], {})
    _, groups = step([alert()], {}, 0)
    notices, groups = step([replace(alert(), state="resolved")], groups, 2)
    assert notices == [] and groups == {}


def test_silences_hide_matching_alerts_until_their_end() -> None:
    silence = Silence(1, (("env", "prod"),), starts_at=0, ends_at=100, created_by="ann", comment="deploy")
    a = alert()
    assert step([a], {}, 10, (silence,)) == ([], {})
    _, groups = step([a], {}, 100, (silence,))  # ended: the group starts waiting
    assert len(step([a], groups, 105, (silence,))[0]) == 1
    other = alert(env="dev")
    assert len(step([other], step([other], {}, 0, (silence,))[1], 10, (silence,))[0]) == 1


def test_alertmanager_webhook_payload_version_4() -> None:
    a = replace(alert(), annotations=(("runbook_url", "https://rb/x"), ("summary", "errors!")))
    _, groups = step([a], {}, 0)
    notice = step([a], groups, 5)[0][0]
    msg = alert_message(notice, "notes", "http://127.0.0.1:7310")
    body = msg.webhook
    assert body["version"] == "4" and body["status"] == "firing" and body["receiver"] == "chat"
    assert body["groupLabels"] == {"alertname": "Errors", "env": "prod"}
    assert body["commonLabels"]["severity"] == "critical" and body["commonLabels"]["app"] == "notes"
    item = body["alerts"][0]
    assert item["status"] == "firing" and item["fingerprint"] == a.fingerprint
    assert item["endsAt"] == "0001-01-01T00:00:00Z" and item["startsAt"].endswith("Z")
    assert item["annotations"]["runbook_url"] == "https://rb/x"
    assert msg.severity == "critical" and "errors!" in msg.text and "https://rb/x" in msg.text
    assert msg.env == "prod"  # what /api/alerts filters deliveries on
    event = msg.pagerduty[0]
    assert event["event_action"] == "trigger" and event["dedup_key"] == a.fingerprint
    assert event["payload"]["severity"] == "critical" and event["links"][0]["href"] == "https://rb/x"


def test_deployment_events_are_labelled_for_routing() -> None:
    event = {
        "event": "rollout.rolled_back",
        "app": "notes",
        "env": "prod",
        "deployment": 7,
        "release": "r3",
        "from_release": "r2",
        "reason": "error rate 20% over 1%",
    }
    assert deployment_labels(event) == {
        "kind": "deployment",
        "alertname": "rollout.rolled_back",
        "env": "prod",
        "severity": "warning",
    }
    msg = deployment_message(event)
    assert msg.webhook == event  # the generic webhook gets Shipyard's own event, unchanged
    assert "error rate" in msg.text and msg.pagerduty[0]["dedup_key"] == "deployment-7"
    assert deployment_message({**event, "event": "deployment.started"}).pagerduty == ()
