"""The vault's bodies and answers (``server/secrets.py``; ``shipyard secrets``).

Values travel only in a write's body, a read's answer and an export's answer.
"""

from __future__ import annotations

from pydantic import Field

from shipyard.schemas.common import MAX_ID, Answer, Body, Ok, Seconds, SecretName

MAX_IMPORT = 5000  # secrets in one import

# A value's size is bounded by the body's (server/gate.py) and then held to the vault's own
# limits (core/secret_limits.py), whose errors name the secret and the limit.
Value = str


class SecretBody(Body):
    value: Value
    cas: int | None = Field(None, ge=0, le=MAX_ID, description="the version last seen; 0: must not exist yet")
    rotate_every: Seconds | None = Field(None, description="seconds; 0 clears the policy")
    expires_at: Seconds | None = Field(None, description="epoch seconds; 0 clears it")


class ImportBody(Body):
    values: dict[SecretName, Value] = Field(max_length=MAX_IMPORT)
    overwrite: bool = False


class Meta(Answer):
    """Everything the vault knows of a secret but its values."""

    env: str
    name: str
    version: int
    created_at: float
    created_by: str
    updated_at: float
    updated_by: str
    rotate_every: float | None = None
    expires_at: float | None = None
    deleted_at: float | None = None
    deleted_by: str | None = None


class Described(Meta):
    """A secret as listed: its value masked, when it is due and when a deleted one is purged."""

    value: str
    due_at: float | None
    purge_at: float | None


class DueSecret(Described):
    state: str


class DueList(Answer):
    secrets: list[DueSecret]


class SecretList(Answer):
    secrets: list[Described]


class Version(Answer):
    version: int
    created_at: float
    created_by: str


class History(Described):
    versions: list[Version]


class SecretValue(Answer):
    env: str
    name: str
    version: int | None
    value: str


class Written(Ok, Meta):
    """A secret written, deleted or recovered: its metadata after the change."""


class Imported(Ok):
    secrets: list[Meta]


class Exported(Answer):
    values: dict[str, str]


class Purged(Ok):
    versions_destroyed: int


class KeyRotated(Ok):
    key_id: str
    environments: list[str]
