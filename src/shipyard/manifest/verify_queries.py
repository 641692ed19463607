"""``database.backups.verify_queries`` in shipyard.yaml: the user's checks of a restored copy.

Each entry names a read-only query and what it must return (``core/verify_queries.py``
defines the ``expect`` forms); names are unique so that a failure names one query. Run by
``engine/data/verify_queries.py`` on the scratch copy of every verification.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from shipyard.core.verify_queries import parse_expectation
from shipyard.manifest.checks import Duration


def _text(value: object) -> object:
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class VerifyQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=100, description="Name shown when the query fails.")
    sql: str = Field(
        min_length=1,
        description="One read-only SQL query, run on the restored copy (PostgreSQL: in the `app` database).",
    )
    expect: Annotated[str, BeforeValidator(_text)] = Field(
        "rows",
        description="What it must return: `rows` (at least one), `no rows`, `= N` (or `N`), `!= N`, "
        "`>= N`, `> N`, `<= N`, `< N` (N compared with the first column of the first row).",
    )
    timeout: Duration = Field(30.0, gt=0, le=3600, description="Longest the query may run, e.g. `10s`.")

    @field_validator("expect")
    @classmethod
    def _expect(cls, value: str) -> str:
        parse_expectation(value)
        return value

    @field_validator("sql")
    @classmethod
    def _sql(cls, value: str) -> str:
        if not value.strip().rstrip(";").strip():
            raise ValueError("sql is empty: give one query, e.g. `SELECT count(*) FROM notes`")
        return value


def check_unique(queries: list[VerifyQuery]) -> list[VerifyQuery]:
    seen: set[str] = set()
    for query in queries:
        if query.name in seen:
            raise ValueError(f"two verify queries are named {query.name!r}: give each its own name")
        seen.add(query.name)
    return queries


VerifyQueries = Annotated[list[VerifyQuery], AfterValidator(check_unique)]
