"""Backup records: catalog entries, their manifest of checksums, and the catalog's encoding.

Pure data and decisions. The catalog is one JSON object per environment kept WITH the
backups (``<folder>/<env>/catalog.json``), so losing the state store loses no backup and
no record of one. Each entry carries its manifest (every stored object with the SHA-256 of
its plaintext and of its stored bytes), which restore verifies. Used by the backup service
(``engine/data/backups.py``), retention (``core/retention.py``) and the API.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from shipyard.core.cron import due
from shipyard.core.verify_queries import QueryCheck
from shipyard.errors import BackupError

CATALOG_FORMAT = 1
Kind = Literal["manual", "scheduled", "pre-migrate", "pre-restore", "continuous"]
Status = Literal["complete", "failed"]
KINDS: tuple[str, ...] = ("manual", "scheduled", "pre-migrate", "pre-restore", "continuous")


@dataclass(frozen=True)
class ObjectEntry:
    """One stored object of a backup and its checksums."""

    object: str
    role: str  # "snapshot" now; "base", "wal" for PostgreSQL later
    plain_bytes: int
    plain_sha256: str
    stored_bytes: int
    stored_sha256: str


@dataclass(frozen=True)
class Verification:
    at: float
    ok: bool
    restore_s: float
    detail: str
    queries: tuple[QueryCheck, ...] = ()  # database.backups.verify_queries, in order


@dataclass(frozen=True)
class BackupRecord:
    id: str
    env: str
    engine: str
    kind: str
    status: str
    started_at: float
    finished_at: float
    source_bytes: int = 0
    size: int = 0  # stored bytes, compressed and encrypted
    checksum: str = ""  # SHA-256 of the main object's stored bytes
    recoverable_from: float | None = None
    recoverable_to: float | None = None
    key_id: str = ""
    objects: tuple[ObjectEntry, ...] = ()
    error: str = ""
    reason: str = ""
    base: str | None = None  # the backup this one builds on (incremental, WAL), kept with it
    wal_generation: int = 0  # continuous: where in the WAL the base snapshot stands
    wal_frame: int = 0
    verification: Verification | None = None

    @property
    def duration_s(self) -> float:
        return self.finished_at - self.started_at

    @property
    def good(self) -> bool:
        return self.status == "complete" and (self.verification is None or self.verification.ok)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["duration_s"] = round(self.duration_s, 3)
        return data

    @staticmethod
    def from_json(data: dict[str, Any]) -> BackupRecord:
        values = {k: v for k, v in data.items() if k != "duration_s"}
        values["objects"] = tuple(ObjectEntry(**o) for o in values.get("objects", ()))
        if values.get("verification"):
            found = dict(values["verification"])
            found["queries"] = tuple(QueryCheck(**q) for q in found.get("queries", ()))
            values["verification"] = Verification(**found)
        return BackupRecord(**values)


@dataclass(frozen=True)
class Catalog:
    env: str
    records: tuple[BackupRecord, ...] = field(default_factory=tuple)

    def with_record(self, record: BackupRecord) -> Catalog:
        kept = tuple(r for r in self.records if r.id != record.id)
        return replace(self, records=tuple(sorted((*kept, record), key=lambda r: r.started_at)))

    def without(self, ids: set[str]) -> Catalog:
        return replace(self, records=tuple(r for r in self.records if r.id not in ids))

    def find(self, backup_id: str | None) -> BackupRecord:
        """The named backup, or the newest good one when ``backup_id`` is None."""
        if backup_id is None:
            good = [r for r in self.records if r.good]
            if not good:
                raise BackupError(
                    f"environment {self.env!r} has no complete backup yet",
                    f"take one with `shipyard backup create {self.env}`",
                )
            return good[-1]
        for record in self.records:
            if record.id == backup_id:
                if record.status != "complete":
                    raise BackupError(
                        f"backup {backup_id} of {self.env} failed ({record.error}); it cannot be restored",
                        f"pick a complete one from `shipyard backup list {self.env}`",
                    )
                return record
        raise BackupError(
            f"environment {self.env!r} has no backup {backup_id!r}",
            f"see the backups with `shipyard backup list {self.env}`",
        )

    def encode(self) -> bytes:
        body = {
            "format": CATALOG_FORMAT,
            "env": self.env,
            "records": [r.to_json() for r in self.records],
        }
        return (json.dumps(body, indent=1, sort_keys=True) + "\n").encode()

    @staticmethod
    def decode(env: str, raw: bytes, where: str) -> Catalog:
        try:
            body = json.loads(raw)
            if body.get("format") != CATALOG_FORMAT or body.get("env") != env:
                raise ValueError("format or environment does not match")
            records = tuple(BackupRecord.from_json(r) for r in body["records"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BackupError(
                f"the backup catalog {where} is unreadable ({exc})",
                "restore catalog.json from the folder's own copy (catalog.json.prev) or a file backup",
            ) from None
        return Catalog(env, records)


def new_backup_id(now: float | None = None) -> str:
    """Sortable and unique: ``b-20261201T120000Z-1a2b3c``."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    return f"b-{stamp}-{secrets.token_hex(3)}"


def utc(ts: float) -> str:
    """A moment as messages show it: ``2026-12-01T17:38:00Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def object_name(env: str, backup_id: str, leaf: str) -> str:
    return f"{env}/{backup_id}/{leaf}"


def catalog_name(env: str) -> str:
    return f"{env}/catalog.json"


def due_jobs(
    catalog: Catalog, schedule: str | None, verify_schedule: str | None, since: float, now: float
) -> list[str]:
    """Which scheduled jobs (``backup``, ``verify``) are due for ``catalog``'s environment.

    A schedule is due when it fired after its last run (the newest scheduled backup, the
    newest verification) or, with none yet, after ``since`` (when the scheduler started).
    A control plane that was down when a schedule fired runs it once on its return.
    """
    jobs = []
    if schedule is not None:
        last = max((r.started_at for r in catalog.records if r.kind == "scheduled"), default=since)
        if due(schedule, last, now):
            jobs.append("backup")
    if verify_schedule is not None and any(r.status == "complete" for r in catalog.records):
        checked = [r.verification.at for r in catalog.records if r.verification is not None]
        if due(verify_schedule, max(checked, default=since), now):
            jobs.append("verify")
    return jobs
