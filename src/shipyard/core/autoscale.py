"""Autoscaling: how many web instances an environment should run now, a pure decision.

The autoscaler (``engine/delivery/autoscale.py``) calls ``decide`` every ``autoscale.interval``
with the metric samples it took, the recommendations and changes of the recent past, and the
schedule's minimum; it stores the answer as the environment's desired count, which the
converger then reaches. Two styles, as the manifest chooses:

- targets, the Kubernetes HPA rule: per target ``desired = ceil(current * value / target)``,
  no change within the tolerance (10 %), the largest desire over all targets; then the
  stabilization windows (up: the lowest recommendation over its window, default 0 s; down: the
  highest over its window, default 5 min) and the rate policies (the change since each
  policy's period began may not pass ``instances`` or ``percent``); clamped to min/max and the
  schedule's minimum. A missing metric never lets the count go down.
- step rules, Azure autoscale's (``core/autoscale_rules.py``, which also reads the schedule).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

METRICS = ("cpu", "requests_per_instance", "latency_p95", "queue")
UNITS = {"cpu": "%", "requests_per_instance": "/s", "latency_p95": "s", "queue": ""}


@dataclass(frozen=True)
class Policy:
    """At most ``value`` instances (or percent of the count at the period's start) per ``period``."""

    kind: Literal["instances", "percent"]
    value: float
    period: float


@dataclass(frozen=True)
class Behavior:
    """One direction's stabilization window and rate policies; ``select`` ``max`` lets the policy
    that allows the largest change decide (HPA's default), ``min`` the smallest."""

    window: float
    policies: tuple[Policy, ...]
    select: Literal["max", "min"] = "max"


# HPA's defaults: up at once, at most +100 % or +4 per 15 s; down over 5 minutes, -100 % per 15 s
SCALE_UP = Behavior(0.0, (Policy("percent", 100, 15.0), Policy("instances", 4, 15.0)))
SCALE_DOWN = Behavior(300.0, (Policy("percent", 100, 15.0),))


@dataclass(frozen=True)
class StepRule:
    """Azure's style: while ``metric``'s mean over ``duration`` is above (or below) ``threshold``,
    change the count by ``change``; no rule acts within ``cooldown`` of the last change."""

    metric: str
    above: bool
    threshold: float
    duration: float
    change: int
    cooldown: float

    def holds(self, value: float) -> bool:
        return value > self.threshold if self.above else value < self.threshold

    def text(self) -> str:
        sign = ">" if self.above else "<"
        limit = f"{self.threshold:g}{UNITS[self.metric]}"
        return f"{self.metric} {sign} {limit} for {self.duration:g}s: {self.change:+d}"


@dataclass(frozen=True)
class Scaling:
    """An environment's ``autoscale:`` as the decision reads it."""

    least: int
    most: int
    targets: Mapping[str, float] = field(default_factory=dict)
    tolerance: float = 0.1
    up: Behavior = SCALE_UP
    down: Behavior = SCALE_DOWN
    rules: tuple[StepRule, ...] = ()


@dataclass(frozen=True)
class Sample:
    """The metrics at ``at``: each per instance (cpu in %, requests per second), or None when
    unknown (no instance answered, no request in the window)."""

    at: float
    values: Mapping[str, float | None]


class Recommendation(NamedTuple):
    """The count one evaluation recommended, before windows and limits (the windows read them)."""

    at: float
    wanted: int


class Change(NamedTuple):
    """A change of the desired count (the rate policies and cooldowns read them)."""

    at: float
    before: int
    after: int


@dataclass(frozen=True)
class Decision:
    """The desired count, the raw recommendation before windows and limits, the rule that
    decided, and why the count holds (empty when it moves)."""

    desired: int
    recommendation: int
    rule: str
    reason: str = ""


def decide(
    spec: Scaling,
    now: float,
    current: int,
    samples: Sequence[Sample],
    recent: Sequence[Recommendation] = (),
    changes: Sequence[Change] = (),
    floor: int = 0,
) -> Decision:
    """The count ``current`` should become by the targets; ``floor`` is the schedule's minimum
    (step rules: ``autoscale_rules.decide_by_rules``)."""
    values = samples[-1].values if samples else {}
    recommendation, rule, missing = desire(current, values, spec.targets, spec.tolerance)
    stable = stabilize(now, current, recommendation, recent, spec.up.window, spec.down.window)
    low, high = (
        scale_down_limit(now, current, changes, spec.down),
        scale_up_limit(now, current, changes, spec.up),
    )
    least, most = bounds(spec, floor)
    desired = min(stable, most, high)  # HPA: the upper bound first, then the lower one wins
    desired = max(desired, least, low)
    reason = _why_held(spec, current, recommendation, stable, desired, low, high, least, missing)
    return Decision(desired, recommendation, rule, reason)


def desire(
    current: int, values: Mapping[str, float | None], targets: Mapping[str, float], tolerance: float
) -> tuple[int, str, str]:
    """HPA's rule: the largest desire over the targets, the target that gave it, and the first
    missing metric ('' if none); a missing metric keeps at least ``current``."""
    best, rule, missing = None, "", ""
    for metric, target in sorted(targets.items()):
        value = values.get(metric)
        if value is None:
            missing = missing or metric
            continue
        ratio = value / target
        close = abs(ratio - 1.0) <= tolerance
        wanted = current if close else math.ceil(current * ratio - 1e-9)
        if best is None or wanted > best:
            unit = UNITS[metric]
            best, rule = wanted, f"{metric} {value:.3g}{unit} / target {target:g}{unit}"
            rule += " (within tolerance)" if close else ""
    if best is None:
        return current, "no metric", missing
    if missing and best < current:
        return current, rule, missing
    return max(best, 0), rule, missing


def stabilize(
    now: float, current: int, recommendation: int, recent: Sequence[Recommendation], up: float, down: float
) -> int:
    """HPA's windows: the count rises to the lowest recommendation over the up window and falls
    to the highest over the down window (``recommendation`` is the newest)."""
    lowest = highest = recommendation
    for past in recent:
        if past.at > now - up:
            lowest = min(lowest, past.wanted)
        if past.at > now - down:
            highest = max(highest, past.wanted)
    return min(max(current, lowest), highest)


def _changed_within(now: float, period: float, changes: Sequence[Change]) -> tuple[int, int]:
    added = sum(c.after - c.before for c in changes if c.at > now - period and c.after > c.before)
    removed = sum(c.before - c.after for c in changes if c.at > now - period and c.after < c.before)
    return added, removed


def scale_up_limit(now: float, current: int, changes: Sequence[Change], up: Behavior) -> int:
    """The highest count the up policies allow now (HPA: counted from each period's start);
    without policies, any."""
    if not up.policies:
        return 1 << 30
    proposed = []
    for policy in up.policies:
        added, removed = _changed_within(now, policy.period, changes)
        start = current - added + removed
        if policy.kind == "instances":
            proposed.append(start + int(policy.value))
        else:
            proposed.append(math.ceil(start * (1 + policy.value / 100) - 1e-9))
    return max(proposed) if up.select == "max" else min(proposed)


def scale_down_limit(now: float, current: int, changes: Sequence[Change], down: Behavior) -> int:
    """The lowest count the down policies allow now; without policies, any."""
    if not down.policies:
        return 0
    proposed = []
    for policy in down.policies:
        added, removed = _changed_within(now, policy.period, changes)
        start = current - added + removed
        if policy.kind == "instances":
            proposed.append(start - int(policy.value))
        else:
            proposed.append(int(start * (1 - policy.value / 100)))
    return min(proposed) if down.select == "max" else max(proposed)


def _why_held(
    spec: Scaling,
    current: int,
    recommendation: int,
    stable: int,
    desired: int,
    low: int,
    high: int,
    least: int,
    missing: str,
) -> str:
    if recommendation == current:
        return f"{missing} unknown: no scale-in" if missing else "no change wanted"
    if recommendation < current and missing:
        return f"{missing} unknown: no scale-in"
    if stable != recommendation and desired == stable:
        window = spec.down.window if recommendation < current else spec.up.window
        which = "highest" if recommendation < current else "lowest"
        return f"stabilization: {stable} is the {which} recommendation over {window:g}s"
    if desired == spec.most and recommendation > desired:
        return f"at max {spec.most}"
    if desired == least and recommendation < desired:
        return f"at min {least}"
    if desired == high and recommendation > desired:
        return f"rate limit: at most {high} now"
    if desired == low and recommendation < desired:
        return f"rate limit: at least {low} now"
    return ""


def bounds(spec: Scaling, floor: int) -> tuple[int, int]:
    """The lowest and highest count allowed now: min raised to the schedule's minimum, max."""
    return min(max(spec.least, floor), spec.most), spec.most
