"""Request and response models of ``/api/scale`` (``shipyard scale``): an environment's web
count, a pin, and the autoscaler's decisions."""

from __future__ import annotations

from pydantic import Field

from shipyard.schemas.common import Answer, Body


class ScaleBody(Body):
    """``shipyard scale ENV N`` pins N instances; ``--auto`` (count null) returns to automatic."""

    count: int | None = Field(None, ge=1, le=32)


class ScaleDecision(Answer):
    at: float
    current: int
    desired: int
    recommendation: int
    rule: str
    reason: str
    metrics: dict[str, float | None]


class ScaleState(Answer):
    env: str
    min: int
    max: int
    desired: int
    pinned: int | None
    pinned_by: str
    serving: int
    starting: int
    last: ScaleDecision | None
