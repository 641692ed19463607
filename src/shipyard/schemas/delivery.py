"""Promotion, approvals and configuration (``server/delivery.py``; ``shipyard promote|approve|config``)."""

from __future__ import annotations

from pydantic import Field

from shipyard.schemas.common import Answer, Body, EnvName, ReleaseId
from shipyard.schemas.deployments import Started


class PromoteBody(Body):
    to: EnvName
    release: ReleaseId | None = None


class RejectBody(Body):
    reason: str = Field(min_length=1, max_length=500)


class Promoted(Started):
    status: str


class Approval(Answer):
    """A deployment's approval request, as recorded (``core/approval.py`` ``Request``)."""

    deployment_id: int
    env: str
    requested_by: str
    requested_at: float
    expires_at: float
    status: str
    decided_by: str | None = None
    decided_at: float | None = None
    decision: str | None = None
    reason: str = ""


class Problem(Answer):
    problem: str
    fix: str


class Setting(Answer):
    key: str
    value: str
    origin: str
    layer: str
    secrets: list[str]


class ConfigShown(Answer):
    env: str
    problems: list[Problem]
    values: list[Setting]


class Side(Answer):
    value: str
    origin: str
    secrets: list[str]


class Change(Answer):
    key: str
    a: Side | None
    b: Side | None


class ConfigDiff(Answer):
    a: str
    b: str
    changes: list[Change]


class MaintenanceBody(Body):
    """``shipyard maintenance on``: the page's text and the networks that still reach the app."""

    message: str | None = Field(None, max_length=1000)
    allow: list[str] = Field(default_factory=list, max_length=200)


class MaintenanceState(Answer):
    env: str
    on: bool
    message: str
    allow: list[str]
    since: float | None
    by: str


class NodeRow(Answer):
    id: str
    hostname: str
    role: str
    state: str
    availability: str
    address: str
    leader: bool


class Nodes(Answer):
    runtime: str
    nodes: list[NodeRow]
