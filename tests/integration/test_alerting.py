"""Alerting end to end: a real control plane, HAProxy and app instances that start failing 20 %
of requests on cue (examples/notes/flaky); rules evaluated over HAProxy's per-request log;
notifications delivered to a real webhook receiver and a real SMTP server; a receiver that
is down shows as a failed delivery; states and groups survive a SIGKILL of the control plane;
silences hold notifications back until they end."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from tests.integration.conftest import Load, Shipyard
from tests.integration.ports import free_port
from tests.integration.receivers import Hook, Mailbox, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def hook() -> Iterator[Hook]:
    receiver = Hook()
    yield receiver
    receiver.close()


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(free_port())
    yield box
    box.close()


def configure(shipyard: Shipyard, hook: Hook, mailbox: Mailbox) -> None:
    fast = {"window": "4s", "for": "2s"}
    shipyard.manifest["alerts"] = {
        "interval": "1s",
        "rules": {
            "ErrorRateHigh": {"expr": "error_rate > 1%", "severity": "warning", **fast},
            "ErrorRateCritical": {
                "expr": "error_rate > 5%",
                "severity": "critical",
                **fast,
                "runbook_url": "https://runbooks.example/errors",
            },
        },
    }
    port = mailbox.controller.port
    shipyard.manifest["notifications"] = {
        "receivers": {
            "hook": {"webhook": {"url": hook.url("/am")}},
            "mail": {"email": {"to": ["oncall@example.test"], "from": "shipyard@example.test", "port": port}},
            "down": {"webhook": {"url": f"http://127.0.0.1:{free_port()}/nobody"}},
            "pager": {"pagerduty": {"routing_key_env": "SHIPYARD_TEST_PD_KEY", "url": hook.url("/pd")}},
        },
        "routes": [
            {"match": {"kind": "deployment"}, "receivers": ["hook"]},
            {"match": {"severity": "critical"}, "receivers": ["mail", "down", "pager"], "continue": True},
            {"match": {"severity": "warning|critical"}, "receivers": ["hook"]},
        ],
        "group_wait": "1s",
        "group_interval": "1s",
    }
    shipyard.write_manifest()
    shipyard.use("flaky")


def marker(shipyard: Shipyard) -> Any:
    return shipyard.home / "envs" / "dev" / "data" / "fail"


def alert_notices(hook: Hook, status: str | None = None) -> list[dict[str, Any]]:
    return [b for b in hook.bodies("/am") if b.get("version") == "4" and status in (None, b["status"])]


def api_alerts(shipyard: Shipyard) -> dict[str, Any]:
    with shipyard.api() as api:
        return dict(api.get("/api/alerts").json())


def firing(shipyard: Shipyard, rule: str) -> dict[str, Any] | None:
    found = [a for a in api_alerts(shipyard)["alerts"] if a["rule"] == rule and a["state"] == "firing"]
    return found[0] if found else None


def test_failing_instances_fire_route_notify_and_resolve(
    shipyard: Shipyard, hook: Hook, mailbox: Mailbox
) -> None:
    configure(shipyard, hook, mailbox)
    shipyard.up(SHIPYARD_TEST_PD_KEY="k3y-from-the-environment")
    shipyard.cli("deploy")
    started = wait_for(
        lambda: [b for b in hook.bodies("/am") if b.get("event") == "deployment.succeeded"],
        10,
        "the deployment event",
    )
    assert started[0]["env"] == "dev" and started[0]["release"] == "r1"
    assert [b["event"] for b in hook.bodies("/am") if "event" in b] == [
        "deployment.started",
        "deployment.succeeded",
    ]
    with Load(shipyard.port):
        wait_for(lambda: api_alerts(shipyard)["last_run"], 10, "an evaluation")
        assert alert_notices(hook) == []  # healthy traffic: nothing fires
        marker(shipyard).write_text("")
        notices = wait_for(
            lambda: len(alert_notices(hook, "firing")) >= 2 and alert_notices(hook, "firing"),
            40,
            "both error-rate alerts at the webhook",
        )
        by_name = {n["groupLabels"]["alertname"]: n for n in notices}
        critical = by_name["ErrorRateCritical"]
        assert critical["receiver"] == "hook" and critical["groupLabels"] == {
            "alertname": "ErrorRateCritical",
            "env": "dev",
        }
        item = critical["alerts"][0]
        assert item["labels"]["release"] == "r1" and item["labels"]["severity"] == "critical"
        assert item["annotations"]["runbook_url"] == "https://runbooks.example/errors"
        mail = wait_for(lambda: mailbox.messages, 20, "the email")[0]
        assert "ErrorRateCritical" in mail["Subject"] and mailbox.envelopes[0][1] == ["oncall@example.test"]
        assert not [m for m in mailbox.messages if "ErrorRateHigh" in m["Subject"]]  # warning: not mailed

        # the receiver that is down: retried, then visible as a failed delivery
        failed = wait_for(
            lambda: [
                d
                for d in api_alerts(shipyard)["deliveries"]
                if d["receiver"] == "down" and d["status"] == "failed"
            ],
            60,
            "the failure",
        )
        assert failed[0]["attempts"] == 5 and "ConnectError" in failed[0]["detail"]
        listing = shipyard.cli("alerts", "list").stdout
        assert "firing" in listing and "ErrorRateCritical" in listing and "FAILED" in listing, listing
        status = shipyard.cli("status")
        assert "alert(s) firing" in status.stdout and "notification to down failed" in status.stderr

        marker(shipyard).unlink()
        resolved = wait_for(lambda: alert_notices(hook, "resolved"), 40, "the resolved notice")
        assert resolved[0]["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
        # PagerDuty got the critical alert only: triggered, then resolved, keyed by the alert
        pages = wait_for(lambda: len(p := hook.bodies("/pd")) >= 2 and p, 40, "the page and its resolution")
        assert [p["event_action"] for p in pages] == ["trigger", "resolve"]
        assert {p["routing_key"] for p in pages} == {"k3y-from-the-environment"}
        assert (
            pages[0]["dedup_key"] == pages[1]["dedup_key"]
            and pages[0]["payload"]["class"] == "ErrorRateCritical"
        )
    assert "k3y-from-the-environment" not in str(api_alerts(shipyard))  # never shown


def test_states_and_groups_survive_a_killed_control_plane(
    shipyard: Shipyard, hook: Hook, mailbox: Mailbox
) -> None:
    configure(shipyard, hook, mailbox)
    shipyard.up()
    shipyard.cli("deploy")
    with Load(shipyard.port):
        marker(shipyard).write_text("")
        before = wait_for(lambda: firing(shipyard, "ErrorRateCritical"), 40, "the firing alert")
        # both groups announced (each waits group_wait on its own) before the kill
        wait_for(lambda: len(alert_notices(hook, "firing")) >= 2, 20, "both groups' firing notices")
        sent = len(alert_notices(hook, "firing"))
        assert {n["groupLabels"]["alertname"] for n in alert_notices(hook, "firing")} == {
            "ErrorRateHigh",
            "ErrorRateCritical",
        }
        pid = shipyard.server_pid()
        os.kill(pid, signal.SIGKILL)
        shipyard.wait_server_gone(pid)
        shipyard.up()
        with shipyard.api() as api:
            first_run = wait_for(lambda: api.get("/api/alerts").json()["last_run"], 10, "an evaluation")
            wait_for(
                lambda: (api.get("/api/alerts").json()["last_run"] or 0) > first_run + 2, 10, "3 evaluations"
            )
        after = firing(shipyard, "ErrorRateCritical")
        assert after is not None and after["fired_at"] == before["fired_at"]  # the same alert, not a new one
        assert len(alert_notices(hook, "firing")) == sent  # and not notified again (repeat_interval)
        marker(shipyard).unlink()
        # the groups were kept too: the restarted control plane knows what it had announced
        wait_for(lambda: alert_notices(hook, "resolved"), 40, "the resolved notice after the restart")


def test_a_silence_holds_notifications_until_it_ends(
    shipyard: Shipyard, hook: Hook, mailbox: Mailbox
) -> None:
    configure(shipyard, hook, mailbox)
    shipyard.up()
    shipyard.cli("deploy")
    out = shipyard.cli("alerts", "silence", "env=dev", "--for", "10m", "--comment", "load test").stdout
    silence_id = out.split()[1]
    with Load(shipyard.port):
        marker(shipyard).write_text("")
        wait_for(lambda: firing(shipyard, "ErrorRateCritical"), 40, "the firing alert")
        with shipyard.api() as api:
            seen = api.get("/api/alerts").json()["last_run"]
            wait_for(lambda: api.get("/api/alerts").json()["last_run"] > seen + 2, 10, "3 more evaluations")
        assert alert_notices(hook) == [] and mailbox.messages == []
        listing = shipyard.cli("alerts", "list").stdout
        assert "env=dev" in listing and "load test" in listing, listing
        shipyard.cli("alerts", "expire", silence_id)
        wait_for(lambda: alert_notices(hook, "firing"), 20, "the notice once the silence ended")
    bad = shipyard.cli("alerts", "silence", "env=dev", "--for", "forever", check=False)
    assert bad.returncode == 1 and "not a duration" in bad.stderr
    with shipyard.api() as api:
        audit = api.get("/api/audit").json()["entries"]
    assert {"alerts.silence", "alerts.unsilence"} <= {e["action"] for e in audit}


def test_instance_rules_see_memory_and_restarts_of_real_processes(shipyard: Shipyard) -> None:
    shipyard.manifest["alerts"] = {
        "interval": "1s",
        "default_rules": False,
        "rules": {
            "UsesMemory": {"expr": "memory > 0.01%", "severity": "info"},
            "Restarted": {"expr": "restarts > 0", "window": "1h", "summary": "{instance} restarted {value}x"},
        },
    }
    shipyard.write_manifest()
    shipyard.up()
    shipyard.cli("deploy")
    memory = wait_for(
        lambda: len(m := [a for a in api_alerts(shipyard)["alerts"] if a["rule"] == "UsesMemory"]) == 2 and m,
        20,
        "a memory alert per instance",
    )
    assert sorted(a["labels"]["instance"] for a in memory) == ["blue-0", "blue-1"]
    assert all(a["state"] == "firing" and a["labels"]["release"] == "r1" for a in memory)
    assert not [a for a in api_alerts(shipyard)["alerts"] if a["rule"] == "Restarted"]
    victim = shipyard.status()["instances"][1]
    os.killpg(victim["pid"], signal.SIGKILL)  # the reconciler restarts it
    restarted = wait_for(
        lambda: [
            a for a in api_alerts(shipyard)["alerts"] if a["rule"] == "Restarted" and a["state"] == "firing"
        ],
        30,
        "the restart alert",
    )
    assert [a["labels"]["instance"] for a in restarted] == [victim["name"]]
    assert restarted[0]["annotations"]["summary"] == f"{victim['name']} restarted 1x"
