"""Health history, metrics, alerts, silences and logs (``server/observe.py``, ``server/logs.py``).

``GET /health`` (application/health+json) and ``GET /metrics`` (Prometheus text) keep their
own formats and are not described here. Rows the store keeps (log lines, deliveries, health
changes, metric series) travel as JSON values: their fields are the store's columns.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field, JsonValue, field_validator

from shipyard.core.durations import parse_duration
from shipyard.schemas.common import Answer, Body, Ok

MAX_SILENCE_S = 90 * 86400.0

Row = dict[str, JsonValue]
Matchers = dict[str, str]


class SilenceBody(Body):
    matchers: Matchers = Field(min_length=1, max_length=20)
    duration: str = Field("1h", max_length=20)
    comment: str = Field("", max_length=500)

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, matchers: Matchers) -> Matchers:
        for key, value in matchers.items():
            if not 0 < len(key) <= 100 or len(value) > 200:
                raise ValueError("a matcher's label has 1 to 100 characters and its value at most 200")
        return matchers

    @field_validator("duration")
    @classmethod
    def _duration(cls, text: str) -> str:
        seconds = parse_duration(text)  # ValueError says what is accepted
        if not 0 < seconds <= MAX_SILENCE_S:
            raise ValueError(f"a silence of {text} is out of range: more than 0s and at most 90d")
        return text


class Silenced(Ok):
    id: int
    ends_at: float


class Expired(Ok):
    id: int


class Alert(Answer):
    rule: str
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: str
    active_since: float | None
    fired_at: float | None
    resolved_at: float | None
    last_true_at: float | None
    value: float | None


class Silence(Answer):
    id: int
    matchers: dict[str, str]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    active: bool


class Delivery(Answer):
    """One notification sent (or not) to a receiver, as the store keeps it."""

    id: int
    at: float
    receiver: str
    receiver_kind: str
    kind: str
    env: str
    key: str
    title: str
    status: str
    attempts: int
    detail: str


class Alerts(Answer):
    alerts: list[Alert]
    silences: list[Silence]
    deliveries: list[Delivery]
    interval: float
    last_run: float | None
    errors: list[str]


class HealthHistory(Answer):
    env: str
    history: list[Row]


class Series(Answer):
    """One series' figures over the span asked (``core/metrics.py`` ``summarize``)."""

    model_config = ConfigDict(populate_by_name=True)

    metric: str
    series: str
    unit: str
    points: int
    from_: float = Field(alias="from")
    to: float
    last: float
    min: float
    mean: float
    max: float


class Metrics(Answer):
    env: str
    since: float
    resolution: float
    series: list[Series]


class LogFilter(Answer):
    """``GET /api/logs/<env>``' filters, as typed (``shipyard logs --since 10m --grep ...``)."""

    since: str | None = Field(None, max_length=40, description="a duration back (10m) or a time")
    until: str | None = Field(None, max_length=40, description="a duration back or a time")
    level: str | None = Field(None, max_length=20, description="a level name; that level and above")
    grep: str | None = Field(None, max_length=1000, description="text the line contains")
    release: str | None = Field(None, max_length=40, description="only lines of this release")


class LogLines(Answer):
    lines: list[Row]
    cursor: int


class LogStats(Answer):
    ingested: int
    archived: int
    dropped_old: int
    dropped_access: int
    full: int
    lines: int
    bytes: int
    max_bytes: int | None
    archives: int
    errors: list[str]
