"""Plain records the control plane keeps: releases, deployments, instances, routes, locks.

Pure data, no I/O. The state store converts them to and from rows; the engine,
API and CLI pass them around.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

Colour = Literal["blue", "green"]
COLOURS: tuple[Colour, Colour] = ("blue", "green")


def other(colour: Colour) -> Colour:
    return "green" if colour == "blue" else "blue"


@dataclass(frozen=True)
class Release:
    id: str
    number: int
    created_at: float
    checksum: str
    deps_hash: str
    path: str
    manifest: str
    source: str
    config: str = "{}"  # JSON: env -> key -> {value (secret tokens kept), origin, secrets}
    base_release: str | None = None  # set on a configuration release: the build it reuses

    def to_row(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Release:
        return cls(**row)


@dataclass(frozen=True)
class NewDeployment:
    env: str
    kind: str
    requested_by: str
    release_id: str | None = None
    from_release: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class Step:
    name: str
    status: str
    started_at: float
    finished_at: float | None
    detail: str

    @property
    def seconds(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.started_at


@dataclass(frozen=True)
class Deployment:
    id: int
    env: str
    kind: str
    release_id: str | None
    from_release: str | None
    status: str
    requested_by: str
    reason: str
    started_at: float
    finished_at: float | None
    error: str | None
    hint: str | None
    steps: tuple[Step, ...] = ()
    checksum: str | None = None
    approval: dict[str, Any] | None = None  # the approval request, when the environment needs one

    @classmethod
    def from_row(cls, row: dict[str, Any], step_rows: list[dict[str, Any]]) -> Deployment:
        made = tuple(
            Step(s["name"], s["status"], s["started_at"], s["finished_at"], s["detail"]) for s in step_rows
        )
        return cls(**row, steps=made)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["steps"] = [asdict(s) | {"seconds": s.seconds} for s in self.steps]
        return data


@dataclass(frozen=True)
class Owner:
    """The control-plane process that holds a lock (pid and its start time)."""

    pid: int
    started: float


@dataclass(frozen=True)
class Lock:
    env: str
    deployment_id: int | None
    holder: str
    reason: str
    acquired_at: float
    owner_pid: int
    owner_started: float

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Lock:
        return cls(**row)

    @property
    def owner(self) -> Owner:
        return Owner(self.owner_pid, self.owner_started)


@dataclass(frozen=True)
class NewInstance:
    env: str
    colour: Colour
    slot: int
    release_id: str
    started_at: float
    process: str = "web"  # the manifest's process; only web listens and takes traffic

    def to_row(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Instance:
    id: int
    env: str
    colour: Colour
    slot: int
    release_id: str
    endpoint: str | None  # host:port where it answers, once started
    runtime_ref: str | None  # the runtime's own ref to it (JSON only the runtime reads)
    state: str
    restarts: int
    started_at: float
    process: str = "web"  # a worker (any other process) has no endpoint and takes no traffic

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Instance:
        return cls(**row)

    @property
    def name(self) -> str:
        """``blue-0`` for web (HAProxy's server name); ``<process>-blue-0`` for a worker."""
        return instance_name(self.process, self.colour, self.slot)


def instance_name(process: str, colour: str, slot: int) -> str:
    """How events, logs and status name an instance: web's is its HAProxy server name."""
    return f"{colour}-{slot}" if process == "web" else f"{process}-{colour}-{slot}"


def endpoint_port(endpoint: str | None) -> int:
    """The port of a ``host:port`` endpoint; 0 for an instance not started yet."""
    port = (endpoint or "").rpartition(":")[2]
    return int(port) if port.isdigit() else 0


@dataclass(frozen=True)
class Route:
    """Which colour of an environment serves traffic, and which stands by for rollback."""

    env: str
    active_colour: Colour | None = None
    active_release: str | None = None
    standby_colour: Colour | None = None
    standby_release: str | None = None
    standby_until: float | None = None
    canary_colour: Colour | None = None  # a progressive rollout's new colour
    canary_release: str | None = None
    canary_weight: int = 0  # percent of requests on the canary colour

    def with_canary(self, colour: Colour, release: str, weight: int) -> Route:
        return replace(self, canary_colour=colour, canary_release=release, canary_weight=weight)

    def without_canary(self) -> Route:
        """The stable version takes every request back."""
        return replace(self, canary_colour=None, canary_release=None, canary_weight=0)

    def share(self, colour: str) -> int:
        """Percent of the environment's requests that ``colour`` takes."""
        canary = self.canary_weight if self.canary_colour else 0
        if colour == self.canary_colour:
            return canary
        return 100 - canary if colour == self.active_colour else 0

    def to_row(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Route:
        row = dict(row)
        row.pop("updated_at", None)
        return cls(**row)
