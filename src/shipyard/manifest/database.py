"""The app's database per environment in shipyard.yaml: engine, migrations, backups.

``database`` at the top level is every environment's default; an environment's own
``database`` overrides the keys it sets (``Manifest.database_for`` merges them). SQLite
is a file in the environment's data folder; PostgreSQL is either managed by Shipyard or
an external server given by URL. The connection URL reaches the app as ``DATABASE_URL``
(``core/database.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from shipyard.core.cron import check_cron
from shipyard.manifest.checks import Duration
from shipyard.manifest.masking import Drill, TableRules
from shipyard.manifest.verify_queries import VerifyQueries

FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Migrate(Model):
    up: str = Field(
        description="Shell command that applies pending migrations (run in the new release, before "
        "its instances start, with the app's environment and `DATABASE_URL`)."
    )
    down: str | None = Field(
        None, description="Shell command that reverts the last migration (`shipyard migrate down`)."
    )
    status: str | None = Field(
        None, description="Shell command that prints the migration state (`shipyard migrate status`)."
    )
    plan: str | None = Field(
        None,
        description="Shell command that prints the SQL the pending migrations would run, without running "
        "them (`shipyard migrate plan`), e.g. `alembic upgrade head --sql`.",
    )
    timeout: Duration = Field(300.0, gt=0, description="Longest a migration command may take.")
    maintenance: bool = Field(
        False,
        description="Turn the maintenance page on while the migration runs (backup, command, restore "
        "on failure) and off after it, also when it fails.",
    )


class Retention(Model):
    hourly: int = Field(
        2, ge=0, le=3660, description="Days for which the newest backup of each hour is kept."
    )
    daily: int = Field(14, ge=0, le=3660, description="Days for which the newest backup of each day is kept.")
    weekly: int = Field(
        12, ge=0, le=520, description="Weeks for which the newest backup of each week is kept."
    )
    monthly: int = Field(
        12, ge=0, le=240, description="Months for which the newest backup of each month is kept."
    )
    minimum: int = Field(1, ge=1, le=1000, description="Newest good backups always kept, whatever their age.")
    recovery_window: Duration = Field(
        0.0,
        ge=0,
        description="Every backup needed to restore any moment of this last stretch is kept, e.g. `7d`.",
    )


class Backups(Model):
    folder: str | None = Field(
        None,
        description="Backup folder (absolute, or relative to the Shipyard home); default "
        "`<home>/backups`. Put it on another disk: the catalog lives there with the backups.",
    )
    schedule: str | None = Field(
        None, description="Cron expression (5 fields, UTC) of scheduled backups, e.g. `0 * * * *`."
    )
    verify_schedule: str | None = Field(
        "0 4 1 * *",
        description="Cron expression (UTC) of the restore test of the newest backup (monthly by default); "
        "null for none.",
    )
    continuous: bool = Field(
        False,
        description="SQLite: ship the WAL every second (base snapshot + segments); managed PostgreSQL: "
        "stream it with pg_receivewal; for point-in-time restores with about a second of data loss at most.",
    )
    retention: Retention = Field(
        default_factory=Retention, description="Tiered retention applied after each backup."
    )
    compression_level: int = Field(3, ge=1, le=19, description="zstd level of every backup.")
    timeout: Duration = Field(
        21600.0,
        gt=0,
        description="Longest a PostgreSQL backup program (pg_basebackup, pg_dump) may run; it is stopped "
        "after that and the backup fails, earlier backups untouched.",
    )
    verify_queries: VerifyQueries = Field(
        default_factory=list,
        description="Queries run read-only on each verified (and drilled) restored copy, after the built-in "
        "checks: `[{name, sql, expect, timeout}]`; a failed one fails the verification.",
    )

    @field_validator("schedule", "verify_schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            check_cron(value)
        return value


class Database(Model):
    engine: Literal["sqlite", "postgres"] = Field(
        "sqlite", description="`sqlite` (a file in the environment's data folder) or `postgres`."
    )
    file: str | None = Field(
        None, description="SQLite only: the file's name in the data folder; default `app.db`."
    )
    managed: bool = Field(
        False, description="PostgreSQL only: Shipyard creates and runs a local cluster for it."
    )
    url: str | None = Field(
        None,
        description="PostgreSQL only: URL of an external server (`postgresql://...`); may hold "
        "`#{NAME}#` tokens resolved from the environment's configuration or secrets, e.g. "
        "`postgresql://app:#{DB_PASSWORD}#@db.internal:5432/app`.",
    )
    migrate: Migrate | None = Field(None, description="The app's migration commands.")
    backups: Backups = Field(default_factory=Backups, description="Backups of this database.")
    masking: dict[str, TableRules] = Field(
        default_factory=dict,
        description="Masking rules per table for `backup restore --target ENV --mask`: "
        "`{column: fake_name|fake_email|fake_phone|hash|null|keep|{fixed: VALUE}}`, or `keep` for a table.",
    )
    masking_unlisted: Literal["warn", "refuse"] = Field(
        "warn",
        description="Columns and tables the masking rules do not name: `warn` keeps them and lists them, "
        "`refuse` stops the masked copy until every column has a rule.",
    )
    drill: Drill = Field(default_factory=Drill, description="Disaster-recovery drill targets and schedule.")

    @model_validator(mode="after")
    def _check(self) -> Database:
        if self.engine == "sqlite":
            if self.managed or self.url is not None:
                raise ValueError(
                    "managed and url are PostgreSQL settings: set engine: postgres, or remove them"
                )
            if self.file is not None and not FILE_NAME.match(self.file):
                raise ValueError(
                    f"file {self.file!r} must be a plain file name (letters, digits, '.', '_', '-'), "
                    "no folder: it lives in the environment's data folder"
                )
        else:
            if self.file is not None:
                raise ValueError("file is a SQLite setting: remove it for engine: postgres")
            if self.managed == (self.url is not None):
                raise ValueError(
                    "engine: postgres needs exactly one of `managed: true` (a local cluster run by "
                    "Shipyard) or `url: postgresql://...` (an external server)"
                )
            if self.url is not None and not re.match(r"^postgres(ql)?://", self.url):
                raise ValueError(f"url must start with postgresql:// (got {self.url.split(':')[0]}:...)")
            if self.url is not None and self.backups.continuous:
                raise ValueError(
                    "backups.continuous needs the WAL of the server, which an external server (url:) "
                    "does not give Shipyard: remove continuous (external servers are backed up with "
                    "pg_dump on schedule), or use `managed: true`"
                )
        return self


def merge_database(base: Database, own: Database | None) -> Database:
    """An environment's database: the top-level one with the keys the environment sets."""
    if own is None:
        return base
    merged: dict[str, object] = {
        k: getattr(base, k) for k in base.model_fields_set if k not in own.model_fields_set
    }
    if own.engine != base.engine:  # another engine: the base's engine settings do not apply
        merged = {k: v for k, v in merged.items() if k not in ("file", "managed", "url")}
    merged.update({k: getattr(own, k) for k in own.model_fields_set})
    return Database.model_validate(merged)


def check_environments(base: Database, own: Mapping[str, Database | None]) -> None:
    """Each environment's merged database is valid (a rule may span the two levels, e.g. a
    top-level ``continuous: true`` and an environment's external ``url``)."""
    for env, database in own.items():
        try:
            merge_database(base, database)
        except ValidationError as exc:
            first = exc.errors()[0]
            message = str(first.get("msg", exc)).removeprefix("Value error, ")
            raise ValueError(f"environments.{env}.database: {message}") from None
