"""``database.masking`` and ``database.drill`` in shipyard.yaml: masked copies and DR drills.

``masking`` maps a table to its column rules (``fake_name``, ``fake_email``, ``fake_phone``,
``hash``, ``null``, ``keep`` or ``{fixed: VALUE}``), or a whole table to ``keep``; applied by
``shipyard backup restore ENV --target OTHER --mask`` (``core/masking.py`` decides,
``engine/data/masking.py`` runs it). ``drill`` holds the disaster-recovery targets (RTO, RPO) and
the cron schedule of ``shipyard drill`` (``core/drill.py``, ``engine/data/drill.py``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from shipyard.core.cron import check_cron
from shipyard.manifest.checks import Duration

RuleName = Literal["fake_name", "fake_email", "fake_phone", "hash", "null", "keep"]


class Fixed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    fixed: str | int | float = Field(description="Every non-NULL value of the column becomes this value.")


def _null_is_rule(value: object) -> object:
    return "null" if value is None else value  # YAML `notes: null` reads as None


ColumnRule = Annotated[RuleName | Fixed, BeforeValidator(_null_is_rule)]
TableRules = Literal["keep"] | dict[str, ColumnRule]


class Drill(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rto: Duration = Field(
        900.0, gt=0, description="Recovery time objective: longest a restore to a serving database may take."
    )
    rpo: Duration = Field(
        300.0, gt=0, description="Recovery point objective: most recent data a loss may cost, e.g. `5m`."
    )
    schedule: str | None = Field(
        None, description="Cron expression (UTC) of scheduled drills, e.g. `0 3 * * 1`; none by default."
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            check_cron(value)
        return value
