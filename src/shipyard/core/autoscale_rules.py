"""Autoscaling by step rules (Azure autoscale's style) and the schedule's minimum, pure.

``decide_by_rules``: a rule holds when its metric's mean over its duration (fully observed)
is past its threshold. Any scale-out rule that holds adds its change (the largest wins); the
count goes in only when every scale-in rule holds, and only if the count it would reach does
not at once make a scale-out rule hold (the anti-flapping check: the metric, per instance,
is projected as ``value * current / new``). No rule acts within its cooldown of the last
change, and a missing metric never lets the count go in. ``scheduled_minimum``: the highest
minimum of the ``schedule`` entries whose cron expression matches the minute. The autoscaler
(``engine/delivery/autoscale.py``) calls both; the targets' rule is ``core/autoscale.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from croniter import croniter

from shipyard.core.autoscale import Change, Decision, Sample, Scaling, StepRule, bounds


def mean_over(samples: Sequence[Sample], metric: str, now: float, duration: float) -> float | None:
    """``metric``'s mean over the last ``duration``; None unless the samples reach back that
    far and every one in the window knows the metric (a gap is never read as calm)."""
    if not samples or samples[0].at > now - duration + 1e-6:
        return None
    window = [s.values.get(metric) for s in samples if s.at >= now - duration - 1e-6]
    known = [v for v in window if v is not None]
    if not known or len(known) < len(window):
        return None
    return sum(known) / len(known)


def decide_by_rules(
    spec: Scaling,
    now: float,
    current: int,
    samples: Sequence[Sample],
    changes: Sequence[Change] = (),
    floor: int = 0,
) -> Decision:
    """The count ``current`` should become by the step rules, within min, max and ``floor``."""
    least, most = bounds(spec, floor)
    outs = [r for r in spec.rules if r.change > 0]
    ins = [r for r in spec.rules if r.change < 0]
    means = {r: mean_over(samples, r.metric, now, r.duration) for r in spec.rules}
    fired = [r for r in outs if (m := means[r]) is not None and r.holds(m)]
    if current < least or current > most:
        target = min(max(current, least), most)
        return Decision(target, target, "bounds", f"at {'min' if target == least else 'max'} {target}")
    last = max((c.at for c in changes), default=None)
    if fired:
        rule = max(fired, key=lambda r: r.change)
        if last is not None and now - last < rule.cooldown:
            return Decision(current, current + rule.change, rule.text(), f"cooldown {rule.cooldown:g}s")
        wanted = min(current + rule.change, most)
        return Decision(
            wanted, current + rule.change, rule.text(), "" if wanted != current else f"at max {most}"
        )
    if not ins:
        return Decision(current, current, "no rule", "no rule holds")
    unknown = [r for r in ins if means[r] is None]
    if unknown:
        return Decision(
            current,
            current,
            unknown[0].text(),
            f"{unknown[0].metric} not known over {unknown[0].duration:g}s: no scale-in",
        )
    waiting = [r for r in ins if not r.holds(means[r] or 0.0)]
    if waiting:
        return Decision(current, current, "no rule", "no rule holds")
    rule = max(ins, key=lambda r: r.change)  # the smallest step in
    if last is not None and now - last < rule.cooldown:
        return Decision(current, current + rule.change, rule.text(), f"cooldown {rule.cooldown:g}s")
    wanted = max(current + rule.change, least)
    if wanted == current:
        return Decision(current, current + rule.change, rule.text(), f"at min {least}")
    if flap := would_flap(outs, samples, now, current, wanted):
        return Decision(current, wanted, rule.text(), flap)
    return Decision(wanted, current + rule.change, rule.text())


def would_flap(
    outs: Sequence[StepRule], samples: Sequence[Sample], now: float, current: int, new: int
) -> str:
    """Why going from ``current`` to ``new`` instances would at once trigger a scale-out rule
    (the per-instance metric projected onto fewer instances), or '' when it would not."""
    for rule in outs:
        value = mean_over(samples, rule.metric, now, rule.duration)
        if value is None:
            value = samples[-1].values.get(rule.metric) if samples else None
        if value is None:
            return f"{rule.metric} unknown: no scale-in"
        projected = value * current / new
        if rule.holds(projected):
            return (
                f"anti-flapping: {new} instances would put {rule.metric} at {projected:.3g}, "
                f"which triggers '{rule.text()}'"
            )
    return ""


def scheduled_minimum(entries: Sequence[tuple[str, int]], now: float) -> int:
    """The highest minimum among ``(cron, minimum)`` entries whose expression matches ``now``'s
    minute (UTC); 0 when none does. ``* 8-17 * * 1-5`` covers weekdays 08:00 to 17:59."""
    minute = datetime.fromtimestamp(now, UTC).replace(second=0, microsecond=0)
    return max((least for cron, least in entries if croniter.match(cron, minute)), default=0)
