"""The canary state machine, analysis checks, weight splits and the plan shown to users."""

from __future__ import annotations

import pytest

from shipyard.core.analysis import Check, evaluate
from shipyard.core.rollout import (
    RolloutState,
    describe_plan,
    min_interval_for,
    on_check,
    on_verb,
    past_deadline,
)
from shipyard.core.traffic import WindowStats
from shipyard.errors import ConflictError
from shipyard.manifest.models import Canary


def canary(**kw: object) -> Canary:
    return Canary.model_validate({"steps": [10, 25, 50, 100], "interval": "5s", **kw})


def stats(requests: int, errors: int = 0, p95: float = 10, p99: float = 20) -> WindowStats:
    return WindowStats(requests, errors, 5.0, 5, p95, p99, None)


PASSED = Check("passed", 100, (), "ok")
FAILED = Check("failed", 100, (), "bad")
NO_DATA = Check("inconclusive", 3, (), "no data")


def test_checks_judge_error_rate_and_latency_against_the_limits() -> None:
    analysis = canary(analysis={"error_rate": {"max": "1%"}, "latency_p95": {"max": "300ms"}}).analysis
    assert evaluate(stats(100), analysis).result == "passed"
    bad = evaluate(stats(100, errors=2), analysis)
    assert bad.result == "failed" and "error rate 2.00% (max 1%)" in bad.summary
    slow = evaluate(stats(100, p95=450), analysis)
    assert slow.result == "failed" and "p95 450ms (max 300ms)" in slow.summary
    assert evaluate(stats(49), analysis).result == "inconclusive"


def test_passed_checks_advance_then_promote() -> None:
    c = canary()
    state, action = on_check(RolloutState(), PASSED, c, now=5)
    assert (state.step, action) == (1, "advance")
    state, action = on_check(state, PASSED, c, now=10)
    assert (state.step, action) == (2, "advance")
    state, action = on_check(state, PASSED, c, now=15)
    assert (state.phase, action, c.steps[state.step]) == ("promoted", "promote_full", 100)


def test_failures_beyond_the_limit_roll_back() -> None:
    state, action = on_check(RolloutState(), FAILED, canary(), now=5)
    assert (state.phase, action) == ("rolled_back", "rollback")
    tolerant = canary(analysis={"failure_limit": 1})
    state, action = on_check(RolloutState(), FAILED, tolerant, now=5)
    assert (state.phase, state.failures, action) == ("progressing", 1, "hold")
    state, action = on_check(state, FAILED, tolerant, now=10)
    assert action == "rollback"


@pytest.mark.parametrize(
    ("no_data", "phase", "action"),
    [("pause", "paused", "hold"), ("fail", "rolled_back", "rollback"), ("pass", "progressing", "advance")],
)
def test_no_data_follows_the_setting(no_data: str, phase: str, action: str) -> None:
    state, got = on_check(RolloutState(), NO_DATA, canary(analysis={"no_data": no_data}), now=5)
    assert (state.phase, got) == (phase, action)


def test_a_no_data_pause_resumes_itself_when_data_comes() -> None:
    c = canary()
    state, _ = on_check(RolloutState(), NO_DATA, c, now=5)
    assert state.paused_by == "no_data"
    state, action = on_check(state, PASSED, c, now=10)
    assert (state.phase, state.paused_by, action) == ("progressing", None, "advance")


def test_pause_at_holds_until_promote_but_failures_still_roll_back() -> None:
    c = canary(pause_at=[25])
    state, action = on_check(RolloutState(), PASSED, c, now=5)
    assert (state.step, state.paused_by, action) == (1, "pause_at", "advance")
    held, action = on_check(state, PASSED, c, now=10)
    assert (held.step, action) == (1, "hold")
    _, action = on_check(held, FAILED, c, now=15)
    assert action == "rollback"
    promoted, action = on_verb(held, "promote", c, now=12)
    assert (promoted.step, promoted.phase, action) == (2, "progressing", "advance")


def test_verbs() -> None:
    c = canary()
    paused, action = on_verb(RolloutState(), "pause", c, now=1)
    assert (paused.phase, paused.paused_by, action) == ("paused", "manual", "hold")
    with pytest.raises(ConflictError, match="already paused"):
        on_verb(paused, "pause", c, now=2)
    resumed, _ = on_verb(paused, "resume", c, now=3)
    assert resumed.phase == "progressing"
    with pytest.raises(ConflictError, match="not paused"):
        on_verb(resumed, "resume", c, now=4)
    full, action = on_verb(resumed, "promote-full", c, now=5)
    assert (full.phase, action) == ("promoted", "promote_full")
    aborted, action = on_verb(resumed, "abort", c, now=5)
    assert (aborted.phase, action) == ("aborted", "rollback")
    with pytest.raises(ConflictError, match="has ended"):
        on_verb(aborted, "promote", c, now=6)
    with pytest.raises(ConflictError, match="unknown rollout verb"):
        on_verb(resumed, "jump", c, now=6)


def test_progress_deadline_spares_rollouts_a_human_holds() -> None:
    c = canary(progress_deadline="1m")
    assert not past_deadline(RolloutState(last_progress=0), c, now=59)
    assert past_deadline(RolloutState(last_progress=0), c, now=61)
    no_data = RolloutState(phase="paused", paused_by="no_data", last_progress=0)
    assert past_deadline(no_data, c, now=61)
    manual = RolloutState(phase="paused", paused_by="manual", last_progress=0)
    assert not past_deadline(manual, c, now=6100)


def test_plan_states_minimum_duration_and_worst_case_detection() -> None:
    lines = describe_plan(canary(analysis={"failure_limit": 1}, pause_at=[50]))
    text = "\n".join(lines)
    assert "10% -> 25% -> 50% -> 100%" in text
    assert "minimum duration 15s" in text
    assert "worst-case time to detect a bad version: 10s" in text
    assert "promote` at 50%" in text


def test_min_interval_for_the_traffic() -> None:
    c = canary(analysis={"min_requests": 50})
    assert min_interval_for(c, rps=100) == pytest.approx(5.0)  # 10 rps at 10%
    assert min_interval_for(c, rps=0) is None


def test_a_first_step_in_pause_at_starts_paused() -> None:
    from shipyard.core.rollout import start

    assert start(canary(pause_at=[10]), now=3) == RolloutState(
        phase="paused", paused_by="pause_at", last_progress=3
    )
    assert start(canary(), now=3) == RolloutState(last_progress=3)
