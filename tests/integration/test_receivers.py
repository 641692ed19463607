"""Delivery to real local receivers: SMTP (plain, STARTTLS, TLS) through aiosmtpd, and Slack,
Teams, PagerDuty and Alertmanager-style webhooks through real HTTP servers; retries, a dead
receiver, a slow one that does not block."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from tests.integration.ports import free_port
from tests.integration.receivers import Hook, Mailbox, self_signed, wait_for

from shipyard.core.alerts import Alert, fingerprint
from shipyard.core.messages import Message, alert_message
from shipyard.core.routing import Grouping, plan_notices
from shipyard.drivers.observe.receivers import Dispatcher, Outcome
from shipyard.manifest.alerts import Receiver

pytestmark = pytest.mark.integration


def firing_message() -> Message:
    labels = tuple(
        sorted({"alertname": "ErrorRateHigh", "env": "prod", "severity": "critical", "release": "r7"}.items())
    )
    alert = Alert(
        "ErrorRateHigh",
        fingerprint(labels),
        labels,
        (
            ("runbook_url", "https://runbooks.example/errors"),
            ("summary", "prod r7: 20% errors"),
            ("value", "20%"),
        ),
        "firing",
        active_since=1000.0,
        fired_at=1010.0,
    )
    grouping = Grouping(("alertname", "env"), 0, 60, 3600)
    notices, _ = plan_notices([alert], {alert.fingerprint: ["team"]}, {}, grouping, [], 1010.0)
    return alert_message(notices[0], "notes", "http://127.0.0.1:7310")


class Results:
    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()

    def __call__(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)

    def wait(self, count: int = 1, timeout: float = 20) -> list[Outcome]:
        return list(
            wait_for(lambda: len(self.outcomes) >= count and self.outcomes, timeout, "a delivery outcome")
        )


@pytest.fixture
def dispatcher() -> Iterator[Dispatcher]:
    sender = Dispatcher(backoff=(0.2, 0.2), timeout=2)
    yield sender
    sender.close()


@pytest.mark.parametrize("tls", ["none", "starttls", "tls"])
def test_email_arrives_at_a_real_smtp_server(tls: str, tmp_path: Path, dispatcher: Dispatcher) -> None:
    cert = self_signed(tmp_path)
    port = free_port()
    box = Mailbox(port, tls, cert)
    try:
        receiver = Receiver.model_validate(
            {
                "email": {
                    "to": ["ops@example.test", "lead@example.test"],
                    "from": "shipyard@example.test",
                    "host": "127.0.0.1",
                    "port": port,
                    "tls": tls,
                    "ca_file": str(cert[0]),
                }
            }
        )
        results = Results()
        dispatcher.send("ops", receiver, firing_message(), results)
        outcome = results.wait()[0]
        assert outcome.ok, outcome.detail
        mail = box.messages[0]
        assert mail["Subject"] == "notes: [FIRING:1] ErrorRateHigh prod"
        assert mail["From"] == "shipyard@example.test"
        assert box.envelopes[0] == ("shipyard@example.test", ["ops@example.test", "lead@example.test"])
        payload = mail.get_payload(decode=True)
        assert isinstance(payload, bytes)
        text = payload.decode()
        assert "prod r7: 20% errors" in text and "https://runbooks.example/errors" in text
    finally:
        box.close()


def test_starttls_refuses_a_certificate_it_cannot_verify(tmp_path: Path, dispatcher: Dispatcher) -> None:
    port = free_port()
    box = Mailbox(port, "starttls", self_signed(tmp_path))
    try:
        receiver = Receiver.model_validate(
            {"email": {"to": ["ops@example.test"], "from": "s@example.test", "port": port, "tls": "starttls"}}
        )
        results = Results()
        dispatcher.send("ops", receiver, firing_message(), results)
        outcome = results.wait()[0]
        assert not outcome.ok and outcome.attempts == 3 and "CERTIFICATE_VERIFY_FAILED" in outcome.detail
        assert box.messages == []
    finally:
        box.close()


def test_chat_paging_and_webhook_formats_arrive(
    dispatcher: Dispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = Hook(status=202)
    monkeypatch.setenv("PD_KEY", "r0ut1ngk3y")
    monkeypatch.setenv("SLACK_URL", hook.url("/slack/T000/B000/secret"))
    receivers = {
        "slack": Receiver.model_validate({"slack": {"url_env": "SLACK_URL"}}),
        "teams": Receiver.model_validate({"teams": {"url": hook.url("/teams")}}),
        "pager": Receiver.model_validate(
            {"pagerduty": {"routing_key_env": "PD_KEY", "url": hook.url("/pd")}}
        ),
        "hook": Receiver.model_validate({"webhook": {"url": hook.url("/am")}}),
    }
    results = Results()
    try:
        for name, receiver in receivers.items():
            dispatcher.send(name, receiver, firing_message(), results)
        outcomes = results.wait(4)
        assert all(o.ok for o in outcomes), [o.detail for o in outcomes]
        assert all("secret" not in o.detail and "r0ut1ngk3y" not in o.detail for o in outcomes)
        slack = hook.bodies("/slack/T000/B000/secret")[0]
        assert "ErrorRateHigh" in slack["text"] and "prod r7: 20% errors" in slack["text"]
        card = hook.bodies("/teams")[0]
        assert card["type"] == "message"
        content = card["attachments"][0]["content"]
        assert card["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
        assert content["type"] == "AdaptiveCard" and "FIRING" in content["body"][0]["text"]
        page = hook.bodies("/pd")[0]
        assert page["routing_key"] == "r0ut1ngk3y" and page["event_action"] == "trigger"
        assert (
            page["payload"]["severity"] == "critical" and page["payload"]["source"] == "shipyard/notes/prod"
        )
        am = hook.bodies("/am")[0]
        assert am["version"] == "4" and am["status"] == "firing" and am["receiver"] == "team"
        assert am["alerts"][0]["labels"]["alertname"] == "ErrorRateHigh"
        assert am["alerts"][0]["startsAt"] == "1970-01-01T00:16:50.000Z"
    finally:
        hook.close()


def test_a_resolved_notice_resolves_the_page(dispatcher: Dispatcher, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = Hook(status=202)
    monkeypatch.setenv("PD_KEY", "k")
    message = firing_message()
    resolved = replace(message, pagerduty=tuple({**e, "event_action": "resolve"} for e in message.pagerduty))
    results = Results()
    try:
        pager = Receiver.model_validate({"pagerduty": {"routing_key_env": "PD_KEY", "url": hook.url("/pd")}})
        dispatcher.send("pager", pager, resolved, results)
        assert results.wait()[0].ok
        assert hook.bodies("/pd")[0]["event_action"] == "resolve"
    finally:
        hook.close()


def test_retries_with_backoff_then_reports_the_failure(dispatcher: Dispatcher) -> None:
    hook = Hook(status=503)
    results = Results()
    try:
        receiver = Receiver.model_validate({"webhook": {"url": hook.url()}})
        dispatcher.send("hook", receiver, firing_message(), results)
        outcome = results.wait()[0]
        assert not outcome.ok and outcome.attempts == 3 and outcome.detail == "answered HTTP 503"
        assert len(hook.received) == 3  # each attempt reached it
        dead = Receiver.model_validate({"webhook": {"url": f"http://127.0.0.1:{free_port()}/gone"}})
        dispatcher.send("dead", dead, firing_message(), results)
        outcome = results.wait(2)[1]
        assert not outcome.ok and "ConnectError" in outcome.detail and outcome.attempts == 3
        missing = Receiver.model_validate({"slack": {"url_env": "SHIPYARD_TEST_UNSET_URL"}})
        dispatcher.send("chat", missing, firing_message(), results)
        outcome = results.wait(3)[2]
        assert not outcome.ok and "SHIPYARD_TEST_UNSET_URL is not set" in outcome.detail
    finally:
        hook.close()


def test_a_slow_receiver_blocks_neither_the_caller_nor_the_others(dispatcher: Dispatcher) -> None:
    slow, fast = Hook(delay=1.5), Hook()
    results = Results()
    try:
        dispatcher.send(
            "slow", Receiver.model_validate({"webhook": {"url": slow.url()}}), firing_message(), results
        )
        dispatcher.send(
            "fast", Receiver.model_validate({"webhook": {"url": fast.url()}}), firing_message(), results
        )
        assert results.outcomes == []  # send() only queued both deliveries
        first = results.wait(1)[0]
        assert first.receiver == "fast" and first.ok  # not held behind the slow one
        assert results.wait(2)[1].receiver == "slow"
    finally:
        slow.close()
        fast.close()
