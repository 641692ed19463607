"""Deployments, rollbacks, rollouts, releases and the status overview (``server/api.py``).

Rows the engine composes from several tables (a rollout's plan, a check's figures, a
sample) travel as JSON values: their fields are the state store's columns.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, JsonValue

from shipyard.schemas.common import Answer, Body, EnvName, Ok, ReleaseId

Row = dict[str, JsonValue]


class DeployBody(Body):
    env: EnvName
    release: ReleaseId | None = None


class RollbackBody(Body):
    env: EnvName
    to: ReleaseId | None = None


class Started(Ok):
    """A deployment (or rollback, promotion, retry) was started: follow it by its id."""

    deployment: int


class Step(Answer):
    name: str
    status: str
    started_at: float
    finished_at: float | None
    detail: str
    seconds: float | None


class Deployment(Answer):
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
    steps: list[Step] = Field(default_factory=list)
    checksum: str | None = None
    approval: dict[str, JsonValue] | None = None


class Event(Answer):
    id: int
    deployment_id: int
    at: float
    step: str
    status: str
    message: str


class Events(Answer):
    status: str
    error: str | None
    hint: str | None
    release: str | None
    events: list[Event]


class Samples(Answer):
    samples: list[Row]
    rollout: Row | None


class RolloutStatus(Answer):
    rollout: Row
    deployment: Deployment
    running: bool
    latest: dict[str, Row]
    checks: list[Row]
    samples: int


RolloutVerb = Literal["pause", "resume", "promote", "promote-full", "abort"]


class VerbDone(Ok):
    phase: str
    weight: int
    paused_by: str | None


class Release(Answer):
    id: str
    number: int
    created_at: float
    checksum: str
    deps_hash: str
    path: str
    source: str
    config: str = "{}"
    base_release: str | None = None


class LockBroken(Ok):
    env: str
    deployment: int | None
    holder: str


class LockShown(Answer):
    holder: str
    reason: str
    since: float
    deployment: int | None


class InstanceShown(Answer):
    name: str
    release: str
    port: int
    endpoint: str | None  # host:port HAProxy sends to (on swarm, the task's node address)
    pid: int | None
    state: str
    restarts: int
    alive: bool
    proxy_status: str | None
    weight: int


class WorkerShown(Answer):
    name: str  # <process>-<colour>-<slot>
    process: str
    release: str
    pid: int | None
    state: str
    restarts: int
    alive: bool


class EnvStatus(Answer):
    url: str
    active_colour: str | None
    active_release: str | None
    standby_colour: str | None
    standby_release: str | None
    standby_until: float | None
    lock: LockShown | None
    instances: list[InstanceShown]
    workers: list[WorkerShown]
    waiting_approval: list[Row]
    alerts_firing: int
    autoscale: str | None = None  # the desired count, its bounds and the last decision


class FailedNotification(Answer):
    receiver: str
    detail: str


class Status(Answer):
    app: str
    proxy_running: bool
    environments: dict[str, EnvStatus]
    reconciler_errors: list[str]
    failed_notifications: list[FailedNotification]
