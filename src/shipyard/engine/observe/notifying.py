"""The notification service: routes alerts and deployment events to receivers and records outcomes.

The alerting loop (``engine/observe/alerting.py``) hands it each evaluation's alerts;
``Context.notify`` hands it deployment events. Routing, silences and grouping are decided
in ``core/routing.py``, the text in ``core/messages.py``; delivery is the ``Sender``'s
(``drivers/observe/interface.py``; off this thread). Every outcome, delivered or failed, is
stored (``deliveries``) so a receiver that is down is itself visible in ``shipyard alerts list``
and ``status``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shipyard.core.alerts import Alert
from shipyard.core.messages import Message, alert_message, deployment_labels, deployment_message
from shipyard.core.routing import Group, Grouping, plan_notices, receivers_for
from shipyard.drivers.observe.interface import Outcome, Sender
from shipyard.manifest.alerts import LEGACY_WEBHOOK
from shipyard.manifest.models import Manifest, Notifications
from shipyard.state.store import StateStore

Record = Callable[[bool, str], None]


def grouping_of(notes: Notifications) -> Grouping:
    return Grouping(notes.group_by, notes.group_wait, notes.group_interval, notes.repeat_interval)


class Notifier:
    def __init__(self, store: StateStore, dispatcher: Sender, external_url: str = "") -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.external_url = external_url

    def targets(self, notes: Notifications, labels: dict[str, str]) -> list[str]:
        receivers = notes.all_receivers()
        default = notes.default_receivers if notes.default_receivers is not None else tuple(receivers)
        return [r for r in receivers_for(labels, notes.routes, default) if r in receivers]

    def plan(
        self, manifest: Manifest, alerts: list[Alert], now: float
    ) -> tuple[list[Message], dict[str, Group]]:
        """The messages due for ``alerts`` now, and the routing groups to save with them."""
        notes = manifest.notifications
        targets = {a.fingerprint: self.targets(notes, {**dict(a.labels), "kind": "alert"}) for a in alerts}
        silences = self.store.observe.silences(active_at=now)
        notices, groups = plan_notices(
            alerts, targets, self.store.observe.groups(), grouping_of(notes), silences, now
        )
        return [alert_message(n, manifest.app, self.external_url) for n in notices], groups

    def send_alerts(self, manifest: Manifest, messages: list[Message]) -> None:
        receivers = manifest.notifications.all_receivers()
        for message in messages:
            name = str(message.webhook["receiver"])
            if name in receivers:
                self.dispatcher.send(name, receivers[name], message, self._record)

    def deployment_event(self, manifest: Manifest, event: dict[str, Any], on_result: Record) -> None:
        """Route one deployment event (``rollout.rolled_back``...) to its receivers."""
        notes = manifest.notifications
        if not notes.deployments:
            return
        message = deployment_message(event)
        receivers = notes.all_receivers()
        for name in self.targets(notes, deployment_labels(event)):
            if (
                name == LEGACY_WEBHOOK
                and notes.webhook
                and not str(event.get("event")).startswith("rollout.")
            ):
                continue  # notifications.webhook keeps its contract: rollout events (and alerts)

            def record(outcome: Outcome) -> None:
                self._record(outcome)
                on_result(outcome.ok, _describe(outcome))

            self.dispatcher.send(name, receivers[name], message, record)

    def _record(self, outcome: Outcome) -> None:
        self.store.observe.record_delivery(
            {
                "at": outcome.at,
                "receiver": outcome.receiver,
                "receiver_kind": outcome.kind,
                "kind": outcome.message.kind,
                "env": outcome.message.env,
                "key": outcome.message.key,
                "title": outcome.message.title,
                "status": "delivered" if outcome.ok else "failed",
                "attempts": outcome.attempts,
                "detail": outcome.detail,
            }
        )

    def close(self) -> None:
        self.dispatcher.close()


def _describe(outcome: Outcome) -> str:
    if outcome.ok:
        return f"{outcome.kind} {outcome.receiver}: {outcome.detail} (attempt {outcome.attempts})"
    return f"{outcome.kind} {outcome.receiver} failed after {outcome.attempts} attempts: {outcome.detail}"
