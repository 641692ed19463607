"""Notification routing: which receivers get an alert, silences, and grouping with its intervals.

Pure, called by the engine's alerting loop after each evaluation (and for deployment
events). The grouping follows Alertmanager: alerts with the same values of ``group_by``
(per receiver) make one group; a new group is first notified ``group_wait`` after its
first alert fired, then again when its alerts changed (one fired or resolved) but not
sooner than ``group_interval`` after the last notification, and again every
``repeat_interval`` while it keeps firing. A group whose alerts all resolved is notified
once more (resolved) and then forgotten. Silenced alerts are left out of notifications.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from shipyard.core.alerts import Alert


class RouteSpec(Protocol):
    @property
    def match(self) -> dict[str, str]: ...
    @property
    def receivers(self) -> tuple[str, ...]: ...
    @property
    def continue_(self) -> bool: ...


@dataclass(frozen=True)
class Grouping:
    group_by: tuple[str, ...]
    group_wait: float
    group_interval: float
    repeat_interval: float


def matches(matchers: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Every matcher equals its label; ``a|b`` matches either; ``*`` any value but none."""
    for key, wanted in matchers.items():
        value = labels.get(key, "")
        if wanted == "*":
            if not value:
                return False
        elif value not in wanted.split("|"):
            return False
    return True


def receivers_for(
    labels: Mapping[str, str], routes: Sequence[RouteSpec], default: Sequence[str]
) -> list[str]:
    """The receivers of a labelled alert or event: the first matching route (and the matching
    ones after it while ``continue`` is set), else ``default``."""
    chosen: list[str] = []
    for route in routes:
        if matches(route.match, labels):
            chosen += [r for r in route.receivers if r not in chosen]
            if not route.continue_:
                break
    return chosen or list(default)


@dataclass(frozen=True)
class Silence:
    id: int
    matchers: tuple[tuple[str, str], ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def silences(self, labels: Mapping[str, str], now: float) -> bool:
        return self.active(now) and matches(dict(self.matchers), labels)


def silenced(silences: Iterable[Silence], labels: Mapping[str, str], now: float) -> bool:
    return any(s.silences(labels, now) for s in silences)


@dataclass(frozen=True)
class Group:
    """What was last notified for one group of one receiver (kept in the state store)."""

    key: str  # receiver + the group_by labels' values, as JSON
    receiver: str
    labels: tuple[tuple[str, str], ...]  # the group_by labels
    first_seen: float
    last_sent_at: float | None = None
    sent_firing: frozenset[str] = field(default_factory=frozenset)  # fingerprints


@dataclass(frozen=True)
class Notice:
    """One notification to send: a group's firing and newly resolved alerts."""

    group: Group
    firing: tuple[Alert, ...]
    resolved: tuple[Alert, ...]

    @property
    def status(self) -> str:
        return "firing" if self.firing else "resolved"


def group_key(receiver: str, labels: tuple[tuple[str, str], ...]) -> str:
    return json.dumps([receiver, list(labels)], separators=(",", ":"))


def plan_notices(
    alerts: Iterable[Alert],
    targets: Mapping[str, list[str]],  # fingerprint -> receivers
    groups: Mapping[str, Group],
    grouping: Grouping,
    silences: Sequence[Silence],
    now: float,
) -> tuple[list[Notice], dict[str, Group]]:
    """Which notifications are due now, and every group's state after sending them."""
    members: dict[str, list[Alert]] = {}
    labels_of: dict[str, tuple[tuple[str, str], ...]] = {}
    receiver_of: dict[str, str] = {}
    for alert in alerts:
        if alert.state == "pending" or silenced(silences, dict(alert.labels), now):
            continue
        glabels = tuple((k, alert.label(k)) for k in grouping.group_by)
        for receiver in targets.get(alert.fingerprint, []):
            key = group_key(receiver, glabels)
            members.setdefault(key, []).append(alert)
            labels_of[key], receiver_of[key] = glabels, receiver
    notices: list[Notice] = []
    after: dict[str, Group] = {}
    for key in sorted(set(members) | set(groups)):
        found = members.get(key, [])
        firing = tuple(a for a in found if a.state == "firing")
        group = groups.get(key)
        if group is None:
            if not firing:
                continue
            group = Group(key, receiver_of[key], labels_of[key], first_seen=now)
        resolved = tuple(a for a in found if a.state == "resolved" and a.fingerprint in group.sent_firing)
        notice, group = _due(group, firing, resolved, grouping, now)
        if notice is not None:
            notices.append(notice)
        if group is not None:
            after[key] = group
    return notices, after


def _due(
    group: Group,
    firing: tuple[Alert, ...],
    resolved: tuple[Alert, ...],
    grouping: Grouping,
    now: float,
) -> tuple[Notice | None, Group | None]:
    now_firing = frozenset(a.fingerprint for a in firing)
    if group.last_sent_at is None:
        if not firing:
            return None, None  # resolved before its first notification: nothing to say
        if now - group.first_seen < grouping.group_wait:
            return None, group
    else:
        # alerts silenced or gone since the last notice are no longer expected to resolve
        gone = group.sent_firing - now_firing - {a.fingerprint for a in resolved}
        changed = now_firing != group.sent_firing - gone or bool(resolved)
        since = now - group.last_sent_at
        if changed and since < grouping.group_interval:
            return None, group
        if not changed and (not firing or since < grouping.repeat_interval):
            return None, (group if firing else None)
    sent = replace(group, last_sent_at=now, sent_firing=now_firing)
    return Notice(sent, firing, resolved), (sent if firing else None)
