"""``environments.<name>.autoscale``: web instances that follow load between ``min`` and ``max``.

Read by the autoscaler (``engine/delivery/autoscale.py``) through ``Autoscale.scaling()``, which
turns the keys into ``core/autoscale.py``'s records; ``models.py`` adds it to ``Environment``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shipyard.core.autoscale import SCALE_DOWN, SCALE_UP, Behavior, Policy, Scaling, StepRule
from shipyard.core.cron import check_cron
from shipyard.manifest.checks import Duration

Metric = Literal["cpu", "requests_per_instance", "latency_p95", "queue"]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Targets(Model):
    cpu: float | None = Field(None, gt=0, le=6400, description="Mean % of an instance's CPU (one core: 100).")
    requests_per_instance: float | None = Field(
        None, gt=0, description="Requests per second per instance (HAProxy's log, over one interval)."
    )
    latency_p95: Duration | None = Field(
        None, gt=0, description="95th percentile of response time, as `300ms`."
    )
    queue: float | None = Field(
        None, gt=0, description="Requests waiting in HAProxy's queue for the environment."
    )


class ScalePolicy(Model):
    instances: int | None = Field(None, ge=1, le=32, description="At most this many instances per period.")
    percent: float | None = Field(
        None, gt=0, le=1000, description="At most this % of the count at the period's start, per period."
    )
    period: Duration = Field(15.0, gt=0, le=3600, description="The span the limit counts changes over.")

    @model_validator(mode="after")
    def _one_limit(self) -> ScalePolicy:
        given = [key for key in ("instances", "percent") if getattr(self, key) is not None]
        if len(given) != 1:
            raise ValueError("give one of instances or percent, such as `{instances: 1, period: 1m}`")
        return self


class Direction(Model):
    window: Duration | None = Field(
        None,
        ge=0,
        le=3600,
        description="Stabilization window (up: the lowest, down: the highest recommendation over it); "
        "default 0s up, 5m down.",
    )
    policies: tuple[ScalePolicy, ...] | None = Field(
        None, description="Rate limits; default up: +100% or +4 per 15s, down: -100% per 15s."
    )
    select: Literal["max", "min"] = Field(
        "max", description="`max`: the policy allowing the largest change decides; `min`: the smallest."
    )

    def behavior(self, default: Behavior) -> Behavior:
        policies = default.policies
        if self.policies is not None:
            policies = tuple(
                Policy("instances", p.instances, p.period)
                if p.instances is not None
                else Policy("percent", p.percent or 0.0, p.period)
                for p in self.policies
            )
        return Behavior(default.window if self.window is None else self.window, policies, self.select)


class StepRuleModel(Model):
    metric: Metric = Field(description="`cpu`, `requests_per_instance`, `latency_p95` or `queue`.")
    above: float | None = Field(None, ge=0, description="The rule holds while the mean is above this.")
    below: float | None = Field(None, gt=0, description="The rule holds while the mean is below this.")
    for_: Duration = Field(300.0, alias="for", gt=0, le=86400, description="The span the mean is taken over.")
    change: int = Field(ge=-32, le=32, description="Instances added (`+1`) or removed (`-1`) when it holds.")
    cooldown: Duration = Field(300.0, ge=0, le=86400, description="No rule acts this long after a change.")

    @model_validator(mode="after")
    def _shape(self) -> StepRuleModel:
        if (self.above is None) == (self.below is None):
            raise ValueError("give one of above or below, such as `{metric: cpu, above: 70, change: 1}`")
        if self.change == 0:
            raise ValueError("change: give +N to add instances or -N to remove them")
        return self

    def rule(self) -> StepRule:
        above = self.above is not None
        threshold = self.above if self.above is not None else self.below
        return StepRule(self.metric, above, threshold or 0.0, self.for_, self.change, self.cooldown)


class ScheduleEntry(Model):
    cron: str = Field(description="Cron expression (UTC) of the minutes it applies to: `* 8-17 * * 1-5`.")
    min: int = Field(ge=1, le=32, description="At least this many instances in those minutes.")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)


class Autoscale(Model):
    min: int = Field(ge=1, le=32, description="Fewest web instances per colour.")
    max: int = Field(ge=1, le=32, description="Most web instances per colour.")
    interval: Duration = Field(15.0, ge=1, le=3600, description="Time between two evaluations.")
    tolerance: float = Field(
        0.1, ge=0, lt=1, description="No change while value / target is this close to 1."
    )
    targets: Targets | None = Field(
        None, description="Targets of the HPA rule: ceil(count * value / target)."
    )
    rules: tuple[StepRuleModel, ...] = Field((), description="Step rules (instead of targets).")
    up: Direction = Field(default_factory=Direction, description="How fast the count may rise.")
    down: Direction = Field(default_factory=Direction, description="How fast the count may fall.")
    schedule: tuple[ScheduleEntry, ...] = Field((), description="Minimum counts at given times.")

    @model_validator(mode="after")
    def _consistent(self) -> Autoscale:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max}): give min <= max")
        named = self.targets is not None and any(v is not None for v in self.targets.model_dump().values())
        if named == bool(self.rules):
            raise ValueError("give targets (such as `targets: {cpu: 70}`) or rules, one of the two")
        if high := [e for e in self.schedule if e.min > self.max]:
            raise ValueError(f"schedule: min {high[0].min} is above max ({self.max})")
        return self

    def scaling(self) -> Scaling:
        targets = {
            k: v for k, v in (self.targets.model_dump() if self.targets else {}).items() if v is not None
        }
        return Scaling(
            self.min,
            self.max,
            targets,
            self.tolerance,
            self.up.behavior(SCALE_UP),
            self.down.behavior(SCALE_DOWN),
            tuple(r.rule() for r in self.rules),
        )

    def minimums(self) -> tuple[tuple[str, int], ...]:
        """The schedule as ``core/autoscale_rules.scheduled_minimum`` reads it."""
        return tuple((e.cron, e.min) for e in self.schedule)
