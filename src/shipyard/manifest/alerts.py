"""The ``alerts`` section of shipyard.yaml and the receivers of ``notifications``, as pydantic models.

``manifest.models`` adds one field for each (``Manifest.alerts``; ``Notifications`` gains
receivers, routes and grouping). The engine's alerting loop reads ``Alerts.all_rules()``:
the default rules (the guides' thresholds) merged with the manifest's own, by name.
Secrets (SMTP password, PagerDuty routing key, chat webhook URLs) are never written in the
file: a ``*_env`` key names the control plane's environment variable that holds them.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shipyard.core.alerts import Condition, RuleSpec, parse_condition
from shipyard.manifest.checks import Duration

RULE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
LABEL_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,39}$")
Severity = Literal["info", "warning", "critical"]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class AlertRule(Model):
    expr: str = Field(
        description="Condition on a metric: `<metric> <op> <value>`, e.g. `error_rate > 1%`, "
        "`latency_p95 > 3s`, `cpu > 80%`, `restarts > 3`."
    )
    window: Duration = Field(60.0, gt=0, le=86400, description="The metric is computed over this last span.")
    for_: Duration = Field(
        0.0, alias="for", ge=0, description="How long the condition must hold before the alert fires."
    )
    keep_firing_for: Duration = Field(
        0.0, ge=0, description="How long a firing alert keeps firing after its condition stops holding."
    )
    severity: Severity = Field("warning", description="`info`, `warning` or `critical`; routes match it.")
    labels: dict[str, str] = Field(default_factory=dict, description="Extra labels on the alert.")
    summary: str = Field(
        "",
        description="One line for people; `{env}`, `{release}`, `{instance}`, `{value}` are filled in.",
    )
    runbook_url: str | None = Field(None, pattern=r"^https?://", description="Link to the runbook.")
    environments: tuple[str, ...] = Field((), description="Environments the rule watches; empty for all.")
    enabled: bool = Field(True, description="False turns the rule (a default one too) off.")

    @field_validator("expr")
    @classmethod
    def _expr(cls, text: str) -> str:
        parse_condition(text)  # raises ValueError naming the problem
        return text

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        for key in labels:
            if not LABEL_NAME.match(key) or key in ("alertname", "severity"):
                raise ValueError(
                    f"label {key!r}: use lowercase letters, digits and _ (alertname and severity are set)"
                )
        return labels

    @property
    def condition(self) -> Condition:
        return parse_condition(self.expr)

    def spec(self, name: str) -> RuleSpec:
        return RuleSpec(
            name=name,
            condition=self.condition,
            window=self.window,
            for_s=self.for_,
            keep_firing_for=self.keep_firing_for,
            severity=self.severity,
            labels=tuple(sorted(self.labels.items())),
            summary=self.summary,
            runbook_url=self.runbook_url,
        )


def _rule(expr: str, severity: Severity, summary: str, **kw: Any) -> AlertRule:
    return AlertRule.model_validate({"expr": expr, "severity": severity, "summary": summary, **kw})


DEFAULT_RULES: dict[str, AlertRule] = {
    "LatencyP95High": _rule(
        "latency_p95 > 3s", "warning", "{env} {release}: p95 latency {value} is over 3s", **{"for": "30s"}
    ),
    "LatencyP95Critical": _rule(
        "latency_p95 > 5s", "critical", "{env} {release}: p95 latency {value} is over 5s", **{"for": "30s"}
    ),
    "ErrorRateHigh": _rule(
        "error_rate > 1%",
        "warning",
        "{env} {release}: {value} of answers are errors (over 1%)",
    ),
    "ErrorRateCritical": _rule(
        "error_rate > 5%",
        "critical",
        "{env} {release}: {value} of answers are errors (over 5%)",
    ),
    "CpuHigh": _rule(
        "cpu > 80%", "warning", "{env} {instance}: CPU {value} of a core (over 80%)", **{"for": "5m"}
    ),
    "MemoryHigh": _rule(
        "memory > 85%",
        "critical",
        "{env} {instance}: memory {value} of the machine (over 85%)",
        **{"for": "5m"},
    ),
    "InstanceRestarting": _rule(
        "restarts > 3", "warning", "{env} {instance} restarted {value} times in an hour", window="1h"
    ),
    "CertificateExpiring": _rule(
        "cert_expires_in < 14d",
        "warning",
        "{env}: the HTTPS certificate expires in {value} (renew it or its file)",
        **{"for": "5m"},
    ),
    "CertificateRenewalFailing": _rule(
        "cert_renewal_failing > 0",
        "warning",
        "{env}: {value} ACME orders failed in a row (`shipyard certs list` says why)",
    ),
    "DeploymentsFailing": _rule(
        "failed_deployments > 0",
        "warning",
        "{env}: {value} deployments failed in the last hour",
        window="1h",
        keep_firing_for="10m",
    ),
}


class Alerts(Model):
    interval: Duration = Field(10.0, ge=0.2, le=3600, description="Time between two rule evaluations.")
    default_rules: bool = Field(
        True, description="Include Shipyard's default rules (a rule of the same name replaces one)."
    )
    rules: dict[str, AlertRule] = Field(default_factory=dict, description="Alert rules by name.")

    @field_validator("rules")
    @classmethod
    def _names(cls, rules: dict[str, AlertRule]) -> dict[str, AlertRule]:
        for name in rules:
            if not RULE_NAME.match(name):
                raise ValueError(f"rule name {name!r}: letters, digits, _ and -, starting with a letter")
        return rules

    def all_rules(self) -> dict[str, AlertRule]:
        merged = {**(DEFAULT_RULES if self.default_rules else {}), **self.rules}
        return {name: rule for name, rule in merged.items() if rule.enabled}


# notifications --------------------------------------------------------------------------------
class EmailReceiver(Model):
    to: tuple[str, ...] = Field(description="Recipient addresses.")
    sender: str = Field(alias="from", description="The From address.")
    host: str = Field("127.0.0.1", description="SMTP server.")
    port: int = Field(25, ge=1, le=65535, description="SMTP port (25, 587 for STARTTLS, 465 for TLS).")
    tls: Literal["none", "starttls", "tls"] = Field(
        "none", description="`starttls` upgrades the connection, `tls` connects with TLS."
    )
    ca_file: str | None = Field(
        None, description="CA certificates (PEM) that verify the server's TLS; default: the system's."
    )
    username: str | None = Field(None, description="SMTP login, if the server needs one.")
    password_env: str | None = Field(None, description="Environment variable holding the SMTP password.")

    @field_validator("to")
    @classmethod
    def _to(cls, to: tuple[str, ...]) -> tuple[str, ...]:
        if not to:
            raise ValueError("list at least one recipient address")
        for addr in to:
            if "@" not in addr:
                raise ValueError(f"{addr!r} is not an email address")
        return to


class UrlReceiver(Model):
    url: str | None = Field(None, pattern=r"^https?://", description="Incoming webhook URL.")
    url_env: str | None = Field(
        None, description="Environment variable holding the URL instead (chat URLs are secrets)."
    )

    @model_validator(mode="after")
    def _one(self) -> UrlReceiver:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give the receiver's `url` or `url_env` (one of them)")
        return self


class PagerDutyReceiver(Model):
    routing_key_env: str = Field(description="Environment variable holding the integration's routing key.")
    url: str = Field(
        "https://events.pagerduty.com/v2/enqueue", pattern=r"^https?://", description="Events API v2 URL."
    )


class Receiver(Model):
    email: EmailReceiver | None = Field(None, description="Send by email (SMTP).")
    slack: UrlReceiver | None = Field(None, description="Post to a Slack incoming webhook.")
    teams: UrlReceiver | None = Field(None, description="Post to a Microsoft Teams incoming webhook.")
    pagerduty: PagerDutyReceiver | None = Field(None, description="Trigger PagerDuty (Events API v2).")
    webhook: UrlReceiver | None = Field(
        None, description="POST Alertmanager's webhook JSON (version 4); deployment events as Shipyard's."
    )

    @model_validator(mode="after")
    def _one(self) -> Receiver:
        kinds = [k for k in ("email", "slack", "teams", "pagerduty", "webhook") if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError("a receiver is exactly one of email, slack, teams, pagerduty or webhook")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("email", "slack", "teams", "pagerduty", "webhook") if getattr(self, k))


class NotifyRoute(Model):
    match: dict[str, str] = Field(
        default_factory=dict,
        description="Labels that must all be equal (`severity`, `env`, `alertname`, `kind`: alert or "
        "deployment, or a rule's label); a value `a|b` matches either.",
    )
    receivers: tuple[str, ...] = Field(description="Receivers (names) that get what matches.")
    continue_: bool = Field(
        False, alias="continue", description="Also try the routes after this one when it matched."
    )


LEGACY_WEBHOOK = "webhook"  # the receiver `notifications.webhook` becomes


class Routing(Model):
    """Receivers, routes and grouping: the base of ``manifest.models.Notifications``."""

    receivers: dict[str, Receiver] = Field(default_factory=dict, description="Receivers by name.")
    routes: tuple[NotifyRoute, ...] = Field(
        (), description="Tried in order; the first that matches (and those after it with `continue`) wins."
    )
    default_receivers: tuple[str, ...] | None = Field(
        None, description="Receivers of what no route matches; default: every receiver."
    )
    group_by: tuple[str, ...] = Field(
        ("alertname", "env"), description="Labels whose values make one group (one notification)."
    )
    group_wait: Duration = Field(5.0, ge=0, description="Wait before a new group's first notification.")
    group_interval: Duration = Field(
        60.0, ge=0, description="Wait before notifying a group again when its alerts changed."
    )
    repeat_interval: Duration = Field(
        4 * 3600.0, gt=0, description="Notify a group that is still firing again after this long."
    )
    deployments: bool = Field(
        True, description="Route deployment events (started, promoted, rolled back, failed) too."
    )

    @model_validator(mode="after")
    def _names(self) -> Routing:
        known = set(self.receivers)
        if getattr(self, "webhook", None):
            if LEGACY_WEBHOOK in known:
                raise ValueError(
                    f"notifications.webhook is the receiver named {LEGACY_WEBHOOK!r}, and receivers "
                    f"has one of that name too: rename it or move the URL into it"
                )
            known.add(LEGACY_WEBHOOK)
        for i, route in enumerate(self.routes):
            for name in route.receivers:
                if name not in known:
                    raise ValueError(
                        f"routes[{i}] names receiver {name!r}, which is not defined ({_known(known)})"
                    )
        for name in self.default_receivers or ():
            if name not in known:
                raise ValueError(f"default_receivers names {name!r}, which is not defined ({_known(known)})")
        return self

    def all_receivers(self) -> dict[str, Receiver]:
        found = dict(self.receivers)
        legacy = getattr(self, "webhook", None)
        if legacy:
            found[LEGACY_WEBHOOK] = Receiver(webhook=UrlReceiver(url=legacy))
        return found


def _known(names: set[str]) -> str:
    return "receivers: " + (", ".join(sorted(names)) or "none")
