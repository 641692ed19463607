"""Early verdicts: the sequential test's arithmetic, and simulations on a fake clock (seeded, many
runs) of good releases at the edge of their limits and of a bad one."""

from __future__ import annotations

import bisect
import math
import random
from collections import Counter
from dataclasses import dataclass

import pytest
from pydantic import ValidationError

from shipyard.core.analysis import evaluate_early
from shipyard.core.rollout import describe_plan
from shipyard.core.sequential import decisive, log_evidence, lower_bound
from shipyard.core.traffic import Hit, TrafficBook, WindowStats
from shipyard.engine.delivery.checks import LOOK_EVERY, early_window
from shipyard.manifest.models import Analysis, Canary

FAST_MS, SLOW_MS = 20, 2500  # latencies of the simulated answers: under and over a 2s limit


def analysis(**kw: object) -> Analysis:
    return Analysis.model_validate({"latency_p99": None, **kw})


@dataclass
class Traffic:
    """One simulated check of a release: requests at a steady rate, looked at every quarter second."""

    rps: float
    error_share: float = 0.0  # of requests answered 5xx
    slow_share: float = 0.0  # of requests slower than the latency limit
    good_delay: float = 0.0  # good answers take this long; errors are answered at once
    count_in_flight: bool = True  # pass HAProxy's count of requests sent to the test

    def first_failure(self, rng: random.Random, settings: Analysis, seconds: float) -> float | None:
        """Seconds into the check when an early look failed it, or None if none did."""
        good_sent: list[float] = []  # accept times of good answers, logged good_delay later
        errors = slow = sent = 0
        now = 0.0
        while now < seconds:
            now += LOOK_EVERY
            while sent < self.rps * now:
                accepted = sent / self.rps
                sent += 1
                if rng.random() < self.error_share:
                    errors += 1
                else:
                    good_sent.append(accepted)
                    slow += rng.random() < self.slow_share
            good_logged = bisect.bisect_right(good_sent, now - self.good_delay)
            logged = errors + good_logged
            slow_logged = min(slow, good_logged)  # slow answers among them: at most all
            stats = WindowStats(
                logged,
                errors,
                now,
                None,
                None,
                None,
                None,
                Counter({FAST_MS: logged - slow_logged, SLOW_MS: slow_logged}),
            )
            if evaluate_early(stats, sent if self.count_in_flight else 0, settings) is not None:
                return now
        return None


def false_failures(
    check: Traffic, settings: Analysis, runs: int, seconds: float = 20.0, seed: int = 7
) -> float:
    rng = random.Random(seed)
    return sum(check.first_failure(rng, settings, seconds) is not None for _ in range(runs)) / runs


# the arithmetic -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requests", "bad", "limit", "confidence", "expected"),
    [
        (40, 8, 0.01, 0.999, True),  # 20% of 40 against 1%: decisive
        (10, 1, 0.01, 0.999, False),  # one error in ten proves little
        (1000, 20, 0.01, 0.999, False),  # 2% of 1000: not yet at 99.9%
        (10000, 200, 0.01, 0.999, True),  # 2% of 10000: decisive
        (1000, 10, 0.01, 0.9, False),  # exactly at the limit: never
        (5, 1, 0.0, 0.999, True),  # max 0%: one error is proof
        (100, 100, 1.0, 0.999, False),  # max 100%: nothing is beyond it
        (0, 0, 0.01, 0.999, False),
    ],
)
def test_decisive_at_the_stated_confidence(
    requests: int, bad: int, limit: float, confidence: float, expected: bool
) -> None:
    assert decisive(requests, bad, limit, 1 - confidence) is expected


def test_the_lower_bound_is_where_the_verdict_turns() -> None:
    bound = lower_bound(300, 60, 0.001)
    assert 0.1 < bound < 0.2  # 20% observed: at least ~13% at 99.9%
    assert decisive(300, 60, bound * 0.99, 0.001)
    assert not decisive(300, 60, bound * 1.01, 0.001)
    assert lower_bound(300, 0, 0.001) == 0.0


def test_more_bad_requests_only_strengthen_the_evidence() -> None:
    # so counting requests still in flight as good can only delay a verdict, never cause one
    for requests in (10, 100, 1000):
        steps = [log_evidence(requests, bad, 0.01) for bad in range(math.ceil(0.01 * requests), requests + 1)]
        assert steps == sorted(steps)


# simulations: good releases at the edge of their limits -------------------------------------


def test_a_release_exactly_at_its_error_limit_fails_early_at_most_at_the_stated_rate() -> None:
    settings = analysis(error_rate={"max": "1%"}, early_failure_confidence="95%")
    edge = Traffic(rps=100, error_share=0.01)
    rate = false_failures(edge, settings, runs=1000)  # 80 looks at up to 2000 requests each
    assert rate <= 0.05


def test_the_simulation_would_catch_a_test_that_ignores_the_repeated_looks() -> None:
    # a fixed-sample 95% one-sided test (normal approximation) at every look of the same runs
    rng = random.Random(7)
    fooled = 0
    for _ in range(300):
        errors = 0
        for look in range(1, 81):
            errors += sum(rng.random() < 0.01 for _ in range(25))
            n = 25 * look
            if (errors / n - 0.01) / math.sqrt(0.01 * 0.99 / n) > 1.645:
                fooled += 1
                break
    assert fooled / 300 > 0.05 * 3  # far beyond its nominal 5%


def test_a_release_at_its_latency_limit_fails_early_at_most_at_the_stated_rate() -> None:
    settings = analysis(error_rate=None, latency_p95={"max": "2s"}, early_failure_confidence="95%")
    edge = Traffic(rps=100, slow_share=0.05)  # exactly 5% slower than 2s: p95 at the limit
    assert false_failures(edge, settings, runs=600) <= 0.05


def test_the_measures_share_the_stated_rate() -> None:
    settings = analysis(error_rate={"max": "1%"}, latency_p99={"max": "2s"}, early_failure_confidence="95%")
    edge = Traffic(rps=100, error_share=0.01, slow_share=0.0101)  # both at their limit at once
    assert false_failures(edge, settings, runs=600) <= 0.05


def test_fast_errors_of_a_good_release_do_not_fail_it_while_its_answers_are_in_flight() -> None:
    # errors answered at once, good answers after 2 s: the first logged requests are mostly errors
    settings = analysis(error_rate={"max": "1%"}, early_failure_confidence="95%")
    edge = Traffic(rps=200, error_share=0.01, good_delay=2.0)
    assert false_failures(edge, settings, runs=300, seconds=5) <= 0.05
    # without HAProxy's count of requests sent, the same runs would mostly fail
    blind = Traffic(rps=200, error_share=0.01, good_delay=2.0, count_in_flight=False)
    assert false_failures(blind, settings, runs=300, seconds=5) > 0.5


# simulations: a bad release ---------------------------------------------------------------------


@pytest.mark.parametrize(("rps", "within"), [(300, 0.5), (100, 1.0), (50, 2.0)])
def test_a_release_failing_20_percent_against_1_percent_fails_within_a_second_or_two(
    rps: float, within: float
) -> None:
    settings = analysis(error_rate={"max": "1%"}, latency_p99={"max": "2s"})  # default 99.9%
    rng = random.Random(11)
    bad = Traffic(rps=rps, error_share=0.20)
    times = [bad.first_failure(rng, settings, seconds=30) for _ in range(300)]
    assert all(t is not None and t <= within for t in times), max(t or math.inf for t in times)


def test_a_slow_release_fails_early_on_its_latency_limit() -> None:
    settings = analysis(error_rate={"max": "1%"}, latency_p95={"max": "2s"})
    slow = Traffic(rps=100, slow_share=0.5)
    assert slow.first_failure(random.Random(3), settings, seconds=30) is not None


# the traffic book on a fake clock, and what a check records ----------------------------------------


def test_an_early_look_counts_the_book_and_records_its_evidence() -> None:
    book = TrafficBook()
    started = 1000.1  # the check begins; the first whole bucket is at 1000.25
    rng = random.Random(5)
    for i in range(200):  # 400 rps for half a second, one in five a 500
        at = 1000.0 + i / 400
        book.add(Hit("fe_dev", "blue-0", 500 if rng.random() < 0.2 else 200, 30, at))
    stats = book.window("fe_dev", {"blue-0"}, *early_window(started, now=1000.5))
    assert stats.requests == 100  # accepted in [1000.25, 1000.5]: before the check not counted
    check = evaluate_early(stats, sent=120, analysis=analysis(error_rate={"max": "1%"}))
    assert check is not None and check.result == "failed" and check.early
    assert "early verdict at 99.9% confidence: 120 requests; error rate at least" in check.summary
    (evidence,) = check.to_json()["evidence"]
    assert evidence["requests"] == 120 and evidence["bad"] == stats.errors and evidence["decisive"]
    assert 0.01 < evidence["lower_bound"] < stats.errors / 120 and evidence["confidence"] == 0.999


def test_no_early_verdict_when_turned_off_or_in_doubt() -> None:
    stats = WindowStats(100, 30, 1.0, 20, 20, 20, None, Counter({20: 100}))
    assert evaluate_early(stats, 100, analysis(early_failure_confidence=None)) is None
    doubtful = WindowStats(100, 2, 1.0, 20, 20, 20, None, Counter({20: 100}))
    assert evaluate_early(doubtful, 100, analysis()) is None


@pytest.mark.parametrize("value", ["100%", "40%", 0.999])
def test_the_confidence_must_be_a_share_from_50_to_below_100_percent(value: object) -> None:
    with pytest.raises(ValidationError, match="early_failure_confidence"):
        Analysis.model_validate({"early_failure_confidence": value})
    assert Analysis().early_failure_confidence == 0.999


def test_the_plan_says_a_bad_version_can_fail_sooner() -> None:
    text = "\n".join(describe_plan(Canary.model_validate({})))
    assert "fails sooner" in text and "99.9% confidence" in text
    off = Canary.model_validate({"analysis": {"early_failure_confidence": None}})
    assert "fails sooner" not in "\n".join(describe_plan(off))
