"""Users, grants, tokens and the audit log (``server/api.py``; ``shipyard users|tokens|audit``)."""

from __future__ import annotations

from pydantic import Field

from shipyard.schemas.common import Answer, Body, EnvScope, Label, Ok, RoleName, UserName

TOKEN_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class UserBody(Body):
    name: UserName
    role: RoleName
    env: EnvScope = "*"


class GrantBody(Body):
    role: RoleName
    env: EnvScope = "*"


class TokenBody(Body):
    label: Label = ""


class Grant(Answer):
    role: str
    env: str


class WhoAmI(Answer):
    user: str
    token_id: str
    grants: list[Grant]


class TokenShown(Answer):
    id: str
    label: str
    created_at: float
    last_used_at: float | None
    revoked: bool


class User(Answer):
    name: str
    created_at: float
    created_by: str
    disabled: bool
    grants: list[Grant]
    tokens: list[TokenShown]


class NewUser(Ok):
    user: str
    role: str
    env: str
    token: str = Field(description="shown once; only its hash is kept")
    token_id: str


class NewToken(Ok):
    user: str
    token: str = Field(description="shown once; only its hash is kept")
    token_id: str


class Changed(Ok):
    changed: bool


class Disabled(Ok):
    tokens_revoked: int


class TokenRevoked(Ok):
    user: str


class AuditEntry(Answer):
    id: int
    at: float
    actor: str
    action: str
    env: str
    target: str
    source: str
    result: str
    detail: str
    prev_hash: str
    hash: str


class AuditEntries(Answer):
    entries: list[AuditEntry]


class ChainReport(Answer):
    entries: int
    ok: bool
    broken_at: int | None = None
    problem: str = ""
