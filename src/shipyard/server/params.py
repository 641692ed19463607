"""Path and query parameters of the API, bounded: names by their patterns, numbers by ranges.

Used by the route modules beside it, so a value out of range is a 422 naming the parameter
before any work (an id above 2^63 reached SQLite and answered 500; a NaN time passed through).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from shipyard.schemas.common import (
    ENV_PATTERN,
    MAX_ID,
    MAX_SECONDS,
    SECRET_PATTERN,
    USER_PATTERN,
)
from shipyard.schemas.identity import TOKEN_ID_PATTERN

EnvPath = Annotated[str, Path(pattern=ENV_PATTERN, max_length=40, description="an environment")]
SecretPath = Annotated[str, Path(pattern=SECRET_PATTERN, max_length=128, description="a secret's name")]
UserPath = Annotated[str, Path(pattern=USER_PATTERN, max_length=40, description="a user's name")]
TokenPath = Annotated[str, Path(pattern=TOKEN_ID_PATTERN, max_length=64, description="a token's id")]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a deployment's id")]
SilencePath = Annotated[int, Path(ge=1, le=MAX_ID, description="a silence's id")]
JobPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a job's id")]

Cursor = Annotated[int, Query(ge=0, le=MAX_ID, description="return what comes after this id")]
Within = Annotated[float, Query(gt=0, le=MAX_SECONDS, allow_inf_nan=False, description="seconds")]
Since = Annotated[float, Query(ge=0, le=MAX_SECONDS, allow_inf_nan=False, description="seconds back")]
Version = Annotated[int, Query(ge=1, le=MAX_ID, description="a secret's version")]

Limit = Annotated[int, Query(ge=1, le=10000, description="how many rows at most")]
EnvQuery = Annotated[
    str | None, Query(pattern=ENV_PATTERN, max_length=40, description="only this environment's")
]
Filter = Annotated[str | None, Query(max_length=100, description="only rows with this value")]
