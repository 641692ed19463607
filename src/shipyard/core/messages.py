"""What a notification says, in every receiver's format: pure rendering of notices and events.

The alerting loop renders a ``Message`` for each due notice (``core.routing.Notice``) or
deployment event; ``drivers.receivers`` picks the view its receiver takes: Alertmanager's
webhook JSON (version 4) for generic webhooks, a text for Slack, an Adaptive Card for
Microsoft Teams, Events API v2 events for PagerDuty (the routing key is added by the
driver, which reads it from the environment), a subject and body for email.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shipyard.core.alerts import Alert
from shipyard.core.routing import Notice

ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's "no end time"
PD_SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}
DEPLOY_SEVERITY = {
    "failed": "warning",
    "rolled_back": "warning",
    "aborted": "warning",
    "timed_out": "warning",  # a scheduled job's run (``cron.timed_out``)
}


@dataclass(frozen=True)
class Message:
    kind: str  # alert | deployment
    key: str  # group key or deployment id: what a receiver may deduplicate on
    title: str
    lines: tuple[str, ...]
    severity: str
    status: str  # firing | resolved | the deployment event
    webhook: dict[str, Any]  # the generic webhook's JSON
    pagerduty: tuple[dict[str, Any], ...] = field(default=())  # events without routing_key
    env: str = ""  # the environment it is about ("" when a group spans several)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def rfc3339(at: float | None) -> str:
    if at is None:
        return ZERO_TIME
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _common(dicts: list[dict[str, str]]) -> dict[str, str]:
    if not dicts:
        return {}
    first = dicts[0]
    return {k: v for k, v in first.items() if all(d.get(k) == v for d in dicts[1:])}


def _am_alert(alert: Alert, app: str) -> dict[str, Any]:
    return {
        "status": "firing" if alert.state == "firing" else "resolved",
        "labels": {**dict(alert.labels), "app": app},
        "annotations": dict(alert.annotations),
        "startsAt": rfc3339(alert.fired_at or alert.active_since),
        "endsAt": rfc3339(alert.resolved_at),
        "generatorURL": "",
        "fingerprint": alert.fingerprint,
    }


def alert_message(notice: Notice, app: str, external_url: str) -> Message:
    """A group's notice: every view of it."""
    alerts = [*notice.firing, *notice.resolved]
    items = [_am_alert(a, app) for a in alerts]
    group_labels = dict(notice.group.labels)
    webhook = {
        "version": "4",
        "groupKey": notice.group.key,
        "truncatedAlerts": 0,
        "status": notice.status,
        "receiver": notice.group.receiver,
        "groupLabels": group_labels,
        "commonLabels": _common([i["labels"] for i in items]),
        "commonAnnotations": _common([i["annotations"] for i in items]),
        "externalURL": external_url,
        "alerts": items,
    }
    severities = [a.label("severity") for a in notice.firing] or [a.label("severity") for a in alerts]
    severity = "critical" if "critical" in severities else ("warning" if "warning" in severities else "info")
    name = " ".join(v for _k, v in notice.group.labels if v) or app
    head = f"[{notice.status.upper()}{':' + str(len(notice.firing)) if notice.firing else ''}] {name}"
    lines = [
        f"FIRING {a.label('severity')}: {dict(a.annotations).get('summary', a.rule)}" for a in notice.firing
    ]
    lines += [f"RESOLVED: {dict(a.annotations).get('summary', a.rule)}" for a in notice.resolved]
    lines += [
        f"runbook: {dict(a.annotations)['runbook_url']}"
        for a in alerts
        if "runbook_url" in dict(a.annotations)
    ]
    events = tuple(
        {
            "event_action": "trigger" if a.state == "firing" else "resolve",
            "dedup_key": a.fingerprint,
            "payload": {
                "summary": dict(a.annotations).get("summary", a.rule)[:1024],
                "source": f"shipyard/{app}/{a.label('env')}",
                "severity": PD_SEVERITY.get(a.label("severity"), "warning"),
                "timestamp": rfc3339(a.fired_at or a.active_since),
                "component": a.label("release") or a.label("instance") or app,
                "group": a.label("env"),
                "class": a.rule,
                "custom_details": dict(a.labels),
            },
            **(
                {"links": [{"href": dict(a.annotations)["runbook_url"], "text": "runbook"}]}
                if "runbook_url" in dict(a.annotations)
                else {}
            ),
        }
        for a in alerts
    )
    envs = {a.label("env") for a in alerts}
    env = envs.pop() if len(envs) == 1 else ""
    title = f"{app}: {head}"
    return Message(
        "alert", notice.group.key, title, tuple(lines), severity, notice.status, webhook, events, env
    )


def deployment_labels(event: dict[str, Any]) -> dict[str, str]:
    """Labels routes match a deployment event on (``kind: deployment``)."""
    name = str(event.get("event", ""))
    return {
        "kind": "deployment",
        "alertname": name,
        "env": str(event.get("env", "")),
        "severity": DEPLOY_SEVERITY.get(name.rsplit(".", 1)[-1], "info"),
    }


def _about(event: dict[str, Any]) -> tuple[str, str]:
    """What the event is about: the key a receiver may deduplicate on, and its title's subject
    (a scheduled job's run, a change of scale, or a deployment)."""
    env = event.get("env")
    if "job" in event:
        run = event.get("run")
        return f"cron-{env}-{event['job']}-{run}", f"job {event['job']}, run {run}"
    if event.get("event") == "autoscale.scaled":
        return f"autoscale-{env}-{event.get('at')}", f"{event.get('from')} -> {event.get('to')} instances"
    return f"deployment-{event.get('deployment')}", f"deployment {event.get('deployment')}"


def deployment_message(event: dict[str, Any]) -> Message:
    """A deployment event (or a scheduled job's failed run, ``cron.failed``: it has a ``job``):
    the generic webhook gets Shipyard's own event JSON, unchanged."""
    labels = deployment_labels(event)
    name = labels["alertname"]
    key, subject = _about(event)
    title = f"{event.get('app')}: {name} in {event.get('env')} ({subject})"
    lines = [f"release {event.get('release') or '-'} (was {event.get('from_release') or '-'})"]
    if event.get("reason"):
        lines.append(str(event["reason"]))
    pd: tuple[dict[str, Any], ...] = ()
    if labels["severity"] != "info":
        pd = (
            {
                "event_action": "trigger",
                "dedup_key": key,
                "payload": {
                    "summary": title[:1024],
                    "source": f"shipyard/{event.get('app')}/{event.get('env')}",
                    "severity": "warning",
                    "class": name,
                    "custom_details": {"reason": event.get("reason"), "release": event.get("release")},
                },
            },
        )
    return Message(
        "deployment",
        key,
        title,
        tuple(lines),
        labels["severity"],
        name,
        event,
        pd,
        labels["env"],
    )
