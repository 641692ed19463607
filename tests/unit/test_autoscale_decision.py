"""The autoscaling decision (``core/autoscale.py``, ``core/autoscale_rules.py``): table cases from
the Kubernetes HPA documentation's examples and Azure autoscale's anti-flapping example."""

from __future__ import annotations

import calendar

import pytest

from shipyard.core.autoscale import (
    Behavior,
    Change,
    Policy,
    Recommendation,
    Sample,
    Scaling,
    StepRule,
    decide,
    desire,
    scale_down_limit,
    scale_up_limit,
    stabilize,
)
from shipyard.core.autoscale_rules import decide_by_rules, mean_over, scheduled_minimum

NO_LIMITS_UP = Behavior(0.0, ())
NO_LIMITS_DOWN = Behavior(0.0, ())


@pytest.mark.parametrize(
    ("current", "value", "target", "want"),
    [
        (1, 200, 100, 2),  # HPA docs: 200m against 100m doubles the replicas
        (4, 50, 100, 2),  # 50m against 100m halves them
        (4, 105, 100, 4),  # within the 10 % tolerance: no change
        (4, 91, 100, 4),
        (4, 89, 100, 4),  # ceil(4 * 0.89) = 4: the ceiling keeps it
        (3, 130, 100, 4),  # ceil(3.9)
        (10, 75, 50, 15),
        (2, 0.0, 70, 0),  # idle: as low as min allows (clamped by decide)
    ],
)
def test_desire_is_hpa_rule_with_tolerance(current: int, value: float, target: float, want: int) -> None:
    assert desire(current, {"cpu": value}, {"cpu": target}, 0.1)[0] == want


def test_the_rule_says_when_the_tolerance_held_the_count() -> None:
    assert desire(4, {"cpu": 105.0}, {"cpu": 100}, 0.1)[1] == "cpu 105% / target 100% (within tolerance)"
    assert desire(4, {"cpu": 89.0}, {"cpu": 100}, 0.1)[1] == "cpu 89% / target 100%"  # ceil kept it


def test_the_largest_desire_over_all_targets_wins() -> None:
    # HPA docs: with several metrics, the largest proposal is taken
    count, rule, missing = desire(
        4, {"cpu": 35.0, "requests_per_instance": 150.0}, {"cpu": 70, "requests_per_instance": 100}, 0.1
    )
    assert (count, missing) == (6, "")
    assert rule.startswith("requests_per_instance")


def test_a_missing_metric_never_scales_in() -> None:
    # HPA: when a metric is unknown and the others would scale down, the count holds
    count, _, missing = desire(4, {"cpu": 10.0, "queue": None}, {"cpu": 70, "queue": 5}, 0.1)
    assert (count, missing) == (4, "queue")
    # but it still scales out on the metrics it knows
    assert desire(4, {"cpu": 140.0, "queue": None}, {"cpu": 70, "queue": 5}, 0.1)[0] == 8
    assert desire(4, {}, {"cpu": 70}, 0.1)[0] == 4


@pytest.mark.parametrize(
    ("recent", "recommendation", "current", "want"),
    [
        # scale down: the highest recommendation over the 300 s window
        ([(900, 8), (1000, 6)], 3, 8, 8),
        ([(600, 8), (1000, 6)], 3, 8, 6),  # 600 left the window (now 1000, 300 s)
        ([], 3, 8, 3),
        # scale up with a 0 s window: at once
        ([(990, 2)], 9, 4, 9),
    ],
)
def test_stabilization_window(
    recent: list[tuple[int, int]], recommendation: int, current: int, want: int
) -> None:
    past = [Recommendation(at, n) for at, n in recent]
    assert stabilize(1000.0, current, recommendation, past, 0.0, 300.0) == want


def test_scale_up_window_takes_the_lowest_recommendation() -> None:
    past = [Recommendation(950.0, 5), Recommendation(990.0, 7)]
    assert stabilize(1000.0, 4, 9, past, 60.0, 300.0) == 5


@pytest.mark.parametrize(
    ("current", "changes", "want"),
    [
        (4, [], 8),  # HPA default up: max(+100 %, +4) per 15 s
        (10, [], 20),
        (1, [], 5),  # +4 beats +100 % at one instance
        (8, [(995, 4, 8)], 8),  # already doubled within these 15 s: no more now
        (8, [(980, 4, 8)], 16),  # that change is older than 15 s
    ],
)
def test_scale_up_rate_policies(current: int, changes: list[tuple[int, int, int]], want: int) -> None:
    up = Behavior(0.0, (Policy("percent", 100, 15.0), Policy("instances", 4, 15.0)))
    assert scale_up_limit(1000.0, current, [Change(*c) for c in changes], up) == want


@pytest.mark.parametrize(
    ("current", "changes", "want"),
    [
        # HPA docs: -4 pods or -10 % per 60 s, the larger change: 80 -> 72 (10 % is 8)
        (80, [], 72),
        (72, [(970, 80, 72)], 72),  # the period that began at 80 already took 8
        (72, [(900, 80, 72)], 64),  # int(72 * 0.9) = 64: 8 again
        (30, [], 26),  # under 40 the -4 pods policy allows more
    ],
)
def test_scale_down_rate_policies(current: int, changes: list[tuple[int, int, int]], want: int) -> None:
    down = Behavior(300.0, (Policy("instances", 4, 60.0), Policy("percent", 10, 60.0)))
    assert scale_down_limit(1000.0, current, [Change(*c) for c in changes], down) == want


def test_select_min_takes_the_smallest_change() -> None:
    down = Behavior(0.0, (Policy("instances", 4, 60.0), Policy("percent", 10, 60.0)), select="min")
    assert scale_down_limit(1000.0, 80, [], down) == 76


def sample(at: float, **values: float | None) -> Sample:
    return Sample(at, values)


def test_decide_clamps_to_min_max_and_the_schedule() -> None:
    spec = Scaling(2, 4, {"cpu": 70.0}, up=NO_LIMITS_UP, down=NO_LIMITS_DOWN)
    assert decide(spec, 1000.0, 2, [sample(1000.0, cpu=700.0)]).desired == 4
    held = decide(spec, 1000.0, 4, [sample(1000.0, cpu=700.0)])
    assert (held.desired, held.recommendation, held.reason) == (4, 40, "at max 4")
    assert decide(spec, 1000.0, 4, [sample(1000.0, cpu=1.0)]).desired == 2
    assert decide(spec, 1000.0, 4, [sample(1000.0, cpu=1.0)], floor=3).desired == 3
    assert decide(spec, 1000.0, 2, [sample(1000.0, cpu=1.0)], floor=9).desired == 4  # max wins


def test_decide_waits_out_the_down_window() -> None:
    spec = Scaling(1, 10, {"cpu": 70.0})
    recent = [Recommendation(900.0, 4)]
    held = decide(spec, 1000.0, 4, [sample(1000.0, cpu=10.0)], recent)
    assert held.desired == 4
    assert held.reason.startswith("stabilization")
    assert decide(spec, 1300.0, 4, [sample(1300.0, cpu=10.0)], recent).desired == 1


def test_schedule_raises_the_floor_past_the_rate_limit() -> None:
    spec = Scaling(1, 10, {"cpu": 70.0}, up=Behavior(0.0, (Policy("instances", 1, 60.0),)))
    assert decide(spec, 1000.0, 1, [sample(1000.0, cpu=70.0)], floor=4).desired == 4


def weekday(hour: int, minute: int = 0) -> float:
    return float(calendar.timegm((2026, 12, 7, hour, minute, 0)))  # a Monday


@pytest.mark.parametrize(
    ("at", "want"),
    [
        (weekday(8), 4),
        (weekday(17, 59), 4),
        (weekday(18), 0),
        (weekday(7, 59), 0),
        (weekday(12) - 2 * 86400, 0),
    ],
)
def test_scheduled_minimum(at: float, want: int) -> None:
    assert scheduled_minimum([("* 8-17 * * 1-5", 4), ("* 12 * * 1-5", 2)], at) == want


CPU_OUT = StepRule("cpu", True, 80.0, 300.0, 1, 300.0)
CPU_IN = StepRule("cpu", False, 60.0, 300.0, -1, 300.0)
AZURE = Scaling(1, 10, rules=(CPU_OUT, CPU_IN))


def steady(cpu: float | None, until: float = 1000.0, every: float = 15.0) -> list[Sample]:
    return [sample(until - n * every, cpu=cpu) for n in range(40, -1, -1)]


@pytest.mark.parametrize(
    ("current", "cpu", "want", "why"),
    [
        # Azure's anti-flapping example: out at >= 80 %, in at < 60 %. Two instances at 50 %:
        # one instance would run at 100 %, which scales out again, so no scale-in
        (2, 50.0, 2, "anti-flapping"),
        # three at 50 %: two would run at 75 %, under 80 %: scale in
        (3, 50.0, 2, ""),
        (3, 85.0, 4, ""),  # above 80 %: +1
        (3, 70.0, 3, "no rule holds"),  # between the thresholds
        (3, None, 3, "not known"),  # missing metric: never in
    ],
)
def test_step_rules_and_anti_flapping(current: int, cpu: float | None, want: int, why: str) -> None:
    got = decide_by_rules(AZURE, 1000.0, current, steady(cpu))
    assert got.desired == want
    assert why in got.reason


def test_step_rule_needs_its_whole_duration_and_its_cooldown() -> None:
    short = [s for s in steady(95.0) if s.at > 800.0]  # only 200 s of 300 observed
    assert decide_by_rules(AZURE, 1000.0, 2, short).desired == 2
    assert decide_by_rules(AZURE, 1000.0, 2, steady(95.0), [Change(900.0, 1, 2)]).reason == "cooldown 300s"
    assert decide_by_rules(AZURE, 1000.0, 2, steady(95.0), [Change(600.0, 1, 2)]).desired == 3


def test_step_rule_window_mean_and_gaps() -> None:
    samples = [sample(700.0, cpu=90.0), sample(850.0, cpu=70.0), sample(1000.0, cpu=80.0)]
    assert mean_over(samples, "cpu", 1000.0, 300.0) == pytest.approx(80.0)
    samples[1] = sample(850.0, cpu=None)
    assert mean_over(samples, "cpu", 1000.0, 300.0) is None  # a gap is never read as calm


def test_step_rules_keep_min_and_max() -> None:
    assert decide_by_rules(AZURE, 1000.0, 10, steady(99.0)).desired == 10
    low = decide_by_rules(AZURE, 1000.0, 1, steady(1.0))
    assert (low.desired, low.reason) == (1, "at min 1")
    assert decide_by_rules(AZURE, 1000.0, 1, steady(1.0), floor=3).desired == 3
