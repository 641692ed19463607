"""The progressive rollout as a pure state machine: steps, checks, manual verbs, weights.

The engine's rollout loop feeds it check results, verbs and the clock, and
carries out what it decides. Every state has a way out: checks advance or roll
back, a human can promote or abort, and the progress deadline fails a rollout
that has stopped moving without a human holding it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, Protocol

from shipyard.core.analysis import Check, Limits, apply_no_data
from shipyard.core.durations import format_duration
from shipyard.errors import ConflictError

Phase = Literal["progressing", "paused", "promoted", "rolled_back", "aborted", "failed"]
Action = Literal["hold", "advance", "promote_full", "rollback"]
VERBS = ("promote", "promote-full", "pause", "resume", "abort")
ACTIVE: tuple[Phase, ...] = ("progressing", "paused")


class Plan(Protocol):
    """The canary settings the rollout follows: the manifest's ``canary`` (``manifest/strategy.py``)."""

    @property
    def steps(self) -> tuple[int, ...]:
        """Percent of requests on the new version, increasing to 100."""

    @property
    def pause_at(self) -> tuple[int, ...]: ...

    @property
    def interval(self) -> float:
        """Seconds each step is watched."""

    @property
    def progress_deadline(self) -> float: ...

    @property
    def analysis(self) -> Limits: ...


@dataclass(frozen=True)
class RolloutState:
    step: int = 0  # index into the steps
    failures: int = 0
    phase: Phase = "progressing"
    paused_by: str | None = None  # "manual", "pause_at", "no_data"
    last_progress: float = 0.0  # when the weight last moved (or a human acted)

    @property
    def active(self) -> bool:
        return self.phase in ACTIVE


def start(canary: Plan, now: float) -> RolloutState:
    """The state at the first step (which may itself be a `pause_at` step)."""
    if canary.steps[0] in canary.pause_at:
        return RolloutState(phase="paused", paused_by="pause_at", last_progress=now)
    return RolloutState(last_progress=now)


def describe_plan(canary: Plan) -> list[str]:
    """The plan shown before a rollout starts: steps, minimum duration, worst-case detection."""
    steps = " -> ".join(f"{w}%" for w in canary.steps)
    watched = len(canary.steps) - 1
    minimum = watched * canary.interval
    detect = canary.interval * (canary.analysis.failure_limit + 1)
    lines = [
        f"canary steps {steps}, each watched {format_duration(canary.interval)}",
        f"minimum duration {format_duration(minimum)} "
        f"({watched} step(s) x {format_duration(canary.interval)})",
        f"worst-case time to detect a bad version: {format_duration(detect)} "
        f"(interval x (failure_limit {canary.analysis.failure_limit} + 1)), "
        f"with at most {canary.steps[0]}% of requests exposed",
    ]
    confidence = canary.analysis.early_failure_confidence
    if confidence is not None:
        lines.append(
            f"a version decisively beyond a limit fails sooner: each check is looked at every quarter "
            f"second, at {confidence * 100:g}% confidence (early_failure_confidence)"
        )
    if canary.pause_at:
        lines.append(f"waits for `shipyard rollout promote` at {', '.join(f'{w}%' for w in canary.pause_at)}")
    return lines


def on_check(state: RolloutState, check: Check, canary: Plan, now: float) -> tuple[RolloutState, Action]:
    """What one finished check does to the rollout."""
    result = apply_no_data(check, canary.analysis).result
    if result == "failed":
        failures = state.failures + 1
        if failures > canary.analysis.failure_limit:
            return replace(state, failures=failures, phase="rolled_back"), "rollback"
        return replace(state, failures=failures), "hold"
    if result == "inconclusive":
        if state.paused_by is None:
            return replace(state, phase="paused", paused_by="no_data"), "hold"
        return state, "hold"
    # passed
    if state.paused_by == "no_data":
        state = replace(state, phase="progressing", paused_by=None)
    if state.phase == "paused":
        return state, "hold"  # a human holds it: checks still guard it, but do not advance
    return _advance(state, canary, now)


def _advance(state: RolloutState, canary: Plan, now: float) -> tuple[RolloutState, Action]:
    nxt = state.step + 1
    if nxt >= len(canary.steps) - 1:
        return replace(state, step=len(canary.steps) - 1, phase="promoted", last_progress=now), "promote_full"
    moved = replace(state, step=nxt, last_progress=now)
    if canary.steps[nxt] in canary.pause_at:
        moved = replace(moved, phase="paused", paused_by="pause_at")
    return moved, "advance"


def on_verb(state: RolloutState, verb: str, canary: Plan, now: float) -> tuple[RolloutState, Action]:
    """A human's verb; raises ConflictError with a hint when it does not apply now."""
    if not state.active:
        raise ConflictError(
            f"the rollout has ended ({state.phase}): `{verb}` no longer applies",
            "start a new one with `shipyard deploy`, or `shipyard rollout retry` after an abort",
        )
    if verb == "abort":
        return replace(state, phase="aborted"), "rollback"
    if verb == "promote-full":
        return replace(state, step=len(canary.steps) - 1, phase="promoted", last_progress=now), "promote_full"
    if verb == "promote":
        return _advance(replace(state, phase="progressing", paused_by=None, failures=0), canary, now)
    if verb == "pause":
        if state.paused_by == "manual":
            raise ConflictError("the rollout is already paused", "`shipyard rollout resume` continues it")
        return replace(state, phase="paused", paused_by="manual"), "hold"
    if verb == "resume":
        if state.phase != "paused":
            raise ConflictError("the rollout is not paused", "nothing to resume")
        return replace(state, phase="progressing", paused_by=None, last_progress=now), "hold"
    raise ConflictError(f"unknown rollout verb {verb!r}", f"use one of: {', '.join(VERBS)}")


def past_deadline(state: RolloutState, canary: Plan, now: float) -> bool:
    """True when the rollout stopped moving for longer than the deadline, with no human holding it."""
    if not state.active or state.paused_by in ("manual", "pause_at"):
        return False
    return now - state.last_progress > canary.progress_deadline


def min_interval_for(canary: Plan, rps: float) -> float | None:
    """Shortest interval that collects min_requests at the first step under ``rps``, or None if none does."""
    first_share = canary.steps[0] / 100
    per_second = rps * first_share
    if per_second <= 0:
        return None
    return canary.analysis.min_requests / per_second
