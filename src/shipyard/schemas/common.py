"""What every API model shares: the name patterns, numeric bounds and the error shape.

A name that reaches a route is checked here before any work, with the same patterns the
manifest, the vault and the user store apply; counts and times are bounded so nothing out of
range (an integer above 2^63, a NaN time) gets past the edge.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# Patterns of the names that appear in paths and bodies (manifest/models.py NAME,
# core/vault.py NAME, core/access.py USER_NAME; a release id is r<number>). Rollout verbs
# are a Literal (schemas/deployments.py RolloutVerb).
ENV_PATTERN = r"^[a-z][a-z0-9-]{0,39}$"
SECRET_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
USER_PATTERN = r"^[a-z][a-z0-9._-]{0,39}$"
RELEASE_PATTERN = r"^r[0-9]{1,12}$"
ROLE_PATTERN = r"^[a-z][a-z-]{0,29}$"

MAX_ID = 2**53  # every id and count fits a SQLite integer and a JSON number
MAX_SECONDS = 253402300799.0  # durations and epoch times: up to the end of the year 9999

EnvName = Annotated[str, Field(pattern=ENV_PATTERN, description="an environment of shipyard.yaml")]
EnvScope = Annotated[str, Field(pattern=r"^(\*|[a-z][a-z0-9-]{0,39})$", description="an environment or *")]
SecretName = Annotated[str, Field(pattern=SECRET_PATTERN, description="a secret's name")]
UserName = Annotated[str, Field(pattern=USER_PATTERN, description="a user's name")]
ReleaseId = Annotated[str, Field(pattern=RELEASE_PATTERN, description="a release id such as r12")]
RoleName = Annotated[
    str, Field(pattern=ROLE_PATTERN, description="a role: viewer, deployer, approver, admin, ...")
]
Seconds = Annotated[float, Field(ge=0, le=MAX_SECONDS, allow_inf_nan=False)]
Label = Annotated[str, Field(max_length=200)]


class Body(BaseModel):
    """A request body: unknown keys are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


class Answer(BaseModel):
    """A response: what the server answers and the CLI decodes."""

    model_config = ConfigDict(extra="ignore")


class Ok(Answer):
    ok: bool = True


class ErrorBody(Answer):
    """Every error's answer (``ShipyardError.to_json``)."""

    ok: bool = False
    error: str
    hint: str
    status: int
    kind: str
