"""The ``logs`` keys of shipyard.yaml: how long logs stay searchable, archived, and how big.

``logs`` at the top level sets the defaults; ``environments.<name>.logs`` overrides
``hot`` and ``cold`` for one environment. Read by the log service
(``engine/observe/logs.py``) through ``retention_for``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Protocol

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from shipyard.core.durations import parse_duration

DAY = 86400.0
_LONG = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(w|y)\s*$")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$")
_SIZE_UNITS = {
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
}


def parse_age(value: object) -> float:
    """ "90d", "12w", "7y" (365 days) or any duration -> seconds; more than 0."""
    if isinstance(value, str) and (match := _LONG.match(value)):
        seconds = float(match.group(1)) * (7 * DAY if match.group(2) == "w" else 365 * DAY)
    else:
        try:
            seconds = parse_duration(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an age: write 90d, 12w, 7y or 36h") from None
    if seconds <= 0:
        raise ValueError(f"{value!r}: an age must be more than 0")
    return seconds


def parse_size(value: object) -> int:
    """ "500MB", "2GiB" -> bytes. A bare number is refused: the unit says what it means."""
    if isinstance(value, str) and (match := _SIZE.match(value)):
        size = int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])
        if size >= 1_000_000:
            return size
        raise ValueError(f"{value!r} is too small: the log store needs at least 1MB")
    raise ValueError(f"{value!r} is not a size: write it with a unit, such as 500MB or 2GiB")


Age = Annotated[float, BeforeValidator(parse_age)]
Size = Annotated[int, BeforeValidator(parse_size)]


def _check_order(hot: float | None, cold: float | None) -> None:
    if hot is not None and cold is not None and cold < hot:
        raise ValueError(
            f"cold ({cold / DAY:g}d) is shorter than hot ({hot / DAY:g}d): cold is the age at which "
            "archives are deleted, counted from the line's time, so it must be at least hot"
        )


class Logs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    hot: Age = Field(
        90 * DAY, description="Age after which log lines leave the searchable store for a cold archive."
    )
    cold: Age = Field(7 * 365 * DAY, description="Age after which cold archives are deleted.")
    max_size: Size | None = Field(
        None, description="Largest size of the searchable log store; oldest lines are archived first."
    )

    @model_validator(mode="after")
    def _check(self) -> Logs:
        _check_order(self.hot, self.cold)
        return self


class EnvLogs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    hot: Age | None = Field(None, description="Overrides `logs.hot` in this environment.")
    cold: Age | None = Field(None, description="Overrides `logs.cold` in this environment.")

    @model_validator(mode="after")
    def _check(self) -> EnvLogs:
        _check_order(self.hot, self.cold)
        return self


@dataclass(frozen=True)
class Retention:
    hot: float  # seconds
    cold: float


class Overrides(Protocol):
    """An environment of ``Manifest``, as retention reads it: its own ``logs``, if any."""

    @property
    def logs(self) -> EnvLogs | None: ...


class Retained(Protocol):
    """``Manifest``, as retention reads it (the root model imports this module, not the reverse)."""

    @property
    def logs(self) -> Logs: ...

    @property
    def environments(self) -> Mapping[str, Overrides]: ...


def retention_for(manifest: Retained, env: str) -> Retention:
    """The environment's own ``hot``/``cold`` where set, else the top-level ones."""
    own = manifest.environments[env].logs if env in manifest.environments else None
    hot = own.hot if own and own.hot is not None else manifest.logs.hot
    cold = own.cold if own and own.cold is not None else manifest.logs.cold
    return Retention(hot, max(hot, cold))


def check_retention(manifest: Retained) -> None:
    """An environment's hot may not outlive the cold it inherits (or the reverse)."""
    for name, env in manifest.environments.items():
        hot = env.logs.hot if env.logs and env.logs.hot is not None else manifest.logs.hot
        cold = env.logs.cold if env.logs and env.logs.cold is not None else manifest.logs.cold
        try:
            _check_order(hot, cold)
        except ValueError as exc:
            raise ValueError(f"environments.{name}.logs: {exc}") from None
