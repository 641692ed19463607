"""The ``strategy`` of shipyard.yaml: blue-green or canary, and the analysis of a new version.

``strategy`` at the top level is every environment's default; an environment's own
``strategy`` of the same kind inherits the keys it does not set (``inherit_strategies``, run
by ``Manifest`` before validation). ``core/analysis.py`` and ``core/rollout.py`` decide over
these settings; the engine's deploy and rollout loops read them through
``Manifest.strategy_for``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from shipyard.core.durations import format_duration, parse_duration
from shipyard.manifest.base import Model
from shipyard.manifest.checks import Duration


def _percent(value: object) -> float:
    """ "1%" -> 0.01. A bare number is refused: the unit says what the figure means."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            share = float(value.strip()[:-1]) / 100
        except ValueError:
            share = -1.0
        if 0 <= share <= 1:
            return share
        raise ValueError(f"{value!r} is not a share between 0% and 100%")
    raise ValueError(f"{value!r} has no unit: write a share with %, such as 1% or 0.5%")


def _latency(value: object) -> float:
    """ "300ms" / "3s" -> seconds. A bare number is refused: 3 could be seconds or ms."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} has no unit: write a latency such as 300ms or 3s")
    seconds = parse_duration(value)
    if not 0 < seconds <= 600:
        raise ValueError(f"{value!r} is out of range: a latency limit is above 0 and at most 10m")
    return seconds


Percent = Annotated[float, BeforeValidator(_percent)]
Latency = Annotated[float, BeforeValidator(_latency)]


class RateLimit(Model):
    max: Percent = Field(description="Highest share of 5xx answers of the new version, e.g. `1%`.")


class LatencyLimit(Model):
    max: Latency = Field(description="Highest latency of the new version at this percentile, e.g. `3s`.")


class Analysis(Model):
    error_rate: RateLimit | None = Field(
        RateLimit(max="1%"), description="Share of the new version's answers that are 5xx."
    )
    latency_p50: LatencyLimit | None = Field(None, description="Median latency of the new version.")
    latency_p95: LatencyLimit | None = Field(None, description="95th percentile latency.")
    latency_p99: LatencyLimit | None = Field(LatencyLimit(max="5s"), description="99th percentile latency.")
    min_requests: int = Field(
        50, ge=1, description="Fewer requests than this to the new version in a check: no data."
    )
    no_data: Literal["pause", "fail", "pass"] = Field(
        "pause",
        description="What an inconclusive check (no data) does: `pause` (hold the weight and check "
        "again), `fail` (count as a failed check) or `pass`.",
    )
    failure_limit: int = Field(0, ge=0, le=100, description="Failed checks tolerated; one more rolls back.")
    early_failure_confidence: Percent | None = Field(
        0.999,
        description="Fail a check before its end once the new version is beyond a limit at this "
        "confidence (a sequential test, looked at every quarter second); null: only at the end.",
    )

    @field_validator("early_failure_confidence")
    @classmethod
    def _confidence(cls, value: float | None) -> float | None:
        if value is not None and not 0.5 <= value < 1:
            raise ValueError(
                f"{value * 100:g}% is out of range: a confidence is at least 50% and below 100%, "
                "such as 99.9% (null turns early failures off)"
            )
        return value


class Rollout(Model):
    """Settings every strategy shares."""

    drain_timeout: Duration = Field(
        30.0, ge=0, description="Longest wait for the old colour's in-flight requests."
    )
    rollback_window: Duration = Field(
        600.0, ge=0, description="How long the old colour keeps running for an instant rollback."
    )
    stop_timeout: Duration = Field(
        10.0, ge=0, description="Grace between SIGTERM and SIGKILL when stopping an instance."
    )
    max_restarts: int = Field(
        3,
        ge=0,
        le=20,
        description="Crashes a new instance may have during a deploy before it fails.",
    )


class BlueGreen(Rollout):
    analysis: Analysis | None = Field(
        None, description="If set, the new version is analysed after the switch (auto rollback)."
    )
    analysis_window: Duration = Field(
        60.0, gt=0, description="How long after the switch the analysis watches the new version."
    )
    analysis_interval: Duration = Field(
        10.0, ge=1, description="Length of one analysis check within the window."
    )

    @model_validator(mode="after")
    def _check(self) -> BlueGreen:
        if self.analysis is not None and self.analysis_interval > self.analysis_window:
            raise ValueError(
                f"analysis_interval ({format_duration(self.analysis_interval)}) is longer than "
                f"analysis_window ({format_duration(self.analysis_window)}): no check could finish"
            )
        return self


class Canary(Rollout):
    steps: tuple[int, ...] = Field(
        (10, 25, 50, 100), description="Percent of requests on the new version, step by step."
    )
    interval: Duration = Field(30.0, ge=1, description="How long each step is watched (one check).")
    analysis: Analysis = Field(default_factory=Analysis, description="Checks of each step.")
    pause_at: tuple[int, ...] = Field(
        (), description="Steps (percent) where the rollout waits for `shipyard rollout promote`."
    )
    sticky: bool = Field(
        False, description="Keep each client on one version during the rollout (HAProxy cookie)."
    )
    progress_deadline: Duration = Field(
        600.0, gt=0, description="A rollout that does not advance for this long fails and rolls back."
    )

    @field_validator("steps")
    @classmethod
    def _steps(cls, steps: tuple[int, ...]) -> tuple[int, ...]:
        if not steps:
            raise ValueError("steps is empty: list percentages ending in 100, such as [10, 25, 50, 100]")
        for i, weight in enumerate(steps):
            if not 1 <= weight <= 100:
                raise ValueError(f"steps[{i}] = {weight}: each step is a percent from 1 to 100")
            if i and weight <= steps[i - 1]:
                raise ValueError(
                    f"steps[{i}] = {weight} does not increase on {steps[i - 1]}: "
                    "list steps from the smallest to 100"
                )
        if steps[-1] != 100:
            raise ValueError(f"steps end at {steps[-1]}: the last step must be 100")
        return steps

    @model_validator(mode="after")
    def _check(self) -> Canary:
        steps = self.steps
        for weight in self.pause_at:
            if weight not in steps[:-1]:
                raise ValueError(
                    f"pause_at {weight} is not a step before 100 (steps: {list(steps)}): "
                    "pause at one of the steps"
                )
        detect = self.interval * (self.analysis.failure_limit + 1)
        if self.progress_deadline <= detect:
            raise ValueError(
                f"progress_deadline ({format_duration(self.progress_deadline)}) must be longer than "
                f"interval x (failure_limit + 1) = {format_duration(detect)}"
            )
        return self


class Strategy(Model):
    blue_green: BlueGreen | None = Field(
        None, description="Blue-green: all traffic switches at once after the health gate."
    )
    canary: Canary | None = Field(
        None, description="Canary: traffic moves step by step while each step is analysed."
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if data == "blue-green":
            return {"blue_green": {}}
        if data == "canary":
            return {"canary": {}}
        if isinstance(data, str):
            raise ValueError(f"unknown strategy {data!r}: use 'blue-green', 'canary' or a mapping")
        return data

    @model_validator(mode="after")
    def _default(self) -> Strategy:
        if self.blue_green is not None and self.canary is not None:
            raise ValueError("choose one strategy: blue_green or canary, not both")
        if self.blue_green is None and self.canary is None:
            object.__setattr__(self, "blue_green", BlueGreen())
        return self

    @property
    def settings(self) -> BlueGreen | Canary:
        chosen = self.canary or self.blue_green
        assert chosen is not None
        return chosen


def inherit_strategies(data: Any) -> Any:
    """The raw manifest with each environment's strategy of the top-level one's kind merged over it."""
    if not isinstance(data, dict) or not isinstance(data.get("environments"), dict):
        return data
    top = _strategy_mapping(data.get("strategy"))
    if top is None:
        return data
    envs = {}
    for name, spec in data["environments"].items():
        own = _strategy_mapping(spec.get("strategy")) if isinstance(spec, dict) else None
        if own is not None and own.keys() == top.keys():
            spec = {**spec, "strategy": _deep_merge(top, own)}
        envs[name] = spec
    return {**data, "environments": envs}


def _strategy_mapping(value: Any) -> dict[str, Any] | None:
    """A strategy as ``{kind: {...}}`` (shorthands expanded), or None if it is not one."""
    if value == "blue-green":
        return {"blue_green": {}}
    if value == "canary":
        return {"canary": {}}
    if isinstance(value, dict) and len(value) == 1:
        kind, body = next(iter(value.items()))
        return {kind: body if body is not None else {}}
    return None


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: mappings merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
