"""Jobs, backups, restores, migrations and drills (``server/jobs.py``, ``server/backups.py``,
``server/drill.py``; ``shipyard jobs|backup|migrate|drill``).

A long operation answers ``202`` with its job (``JobStarted``); the job's ``result``, once it
succeeded, is the operation's answer: ``BackupDone`` (create, verify), ``Restored``,
``Migrated`` or ``DrillDone``, which the CLI decodes from it. A backup record and a drill
record are the catalog's and the drills file's entries (``core/backups.py``, ``core/drill.py``).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, JsonValue

from shipyard.schemas.common import Answer, Body, EnvName, Label, Ok, ReleaseId, Seconds

# A backup id as ``core/backups.py new_backup_id`` makes them (b-20261201T120000Z-1a2b3c); the
# pattern admits the shape, not the stamp, so an unknown id is a 404 from the catalog.
BACKUP_ID_PATTERN = r"^b[A-Za-z0-9-]{1,63}$"
BackupId = Annotated[str, Field(pattern=BACKUP_ID_PATTERN, description="a backup's id (b-...)")]


# jobs --------------------------------------------------------------------------------------
class Job(Answer):
    """A long operation (``core/jobs.py`` ``Job``); its kind is the audited action."""

    id: int
    kind: str
    env: str
    args: dict[str, JsonValue]
    requested_by: str
    status: str  # queued, running, succeeded, failed, interrupted
    created_at: float
    started_at: float | None
    finished_at: float | None
    result: dict[str, JsonValue] | None
    error: str | None
    hint: str | None


class JobStarted(Ok):
    """The ``202`` of a route that starts a job: follow it at ``/api/jobs/{id}``."""

    job: Job


class JobList(Answer):
    jobs: list[Job]


class ProgressLine(Answer):
    id: int
    at: float
    message: str


class JobShown(Answer):
    job: Job
    progress: list[ProgressLine]  # the lines after the ``after`` asked


# backups -----------------------------------------------------------------------------------
class CreateBody(Body):
    reason: Label = ""


class VerifyBody(Body):
    backup: BackupId | None = None


class RestoreBody(Body):
    backup: BackupId | None = None
    target: EnvName | None = None
    to_time: Seconds | None = None
    mask: bool = False


class QueryCheck(Answer):
    name: str
    ok: bool
    expected: str
    got: str


class Verification(Answer):
    at: float
    ok: bool
    restore_s: float
    detail: str
    queries: list[QueryCheck] = Field(default_factory=list)


class StoredObject(Answer):
    object: str
    role: str
    plain_bytes: int
    plain_sha256: str
    stored_bytes: int
    stored_sha256: str


class Backup(Answer):
    """A catalog entry (``core/backups.py`` ``BackupRecord``), with its manifest of checksums."""

    id: str
    env: str
    engine: str
    kind: str
    status: str
    started_at: float
    finished_at: float
    duration_s: float
    source_bytes: int
    size: int
    checksum: str
    recoverable_from: float | None
    recoverable_to: float | None
    key_id: str
    objects: list[StoredObject]
    error: str
    reason: str
    base: str | None
    wal_generation: int
    wal_frame: int
    verification: Verification | None


class Shipping(Answer):
    """Continuous shipping of an environment: the base it ships onto, the last errors."""

    base: str | None
    last_shipped_at: float | None
    errors: list[str]


class Catalog(Answer):
    env: str
    backups: list[Backup]  # newest first; a continuous one with its recoverable window
    continuous: Shipping | None


class BackupDone(Answer):
    """The result of a backup's job or a verification's."""

    backup: Backup


class Point(Answer):
    """The point a restore reached: when, where in the WAL, and what it says about it."""

    at: float
    position: str
    lsn: str | None = None
    newest: bool
    asked: float | None
    said: str


class Restored(Answer):
    """The result of a restore's job (a masked copy's adds what it masked)."""

    deployment: int
    restored: str
    target: str
    safety_backup: str | None
    to_time: float | None
    point: Point | None = None
    kept_aside: str | None = None  # where an unreadable database was set aside
    masked: list[str] = Field(default_factory=list)
    unmasked: list[str] = Field(default_factory=list)
    rows: int | None = None


# migrations --------------------------------------------------------------------------------
class PlanBody(Body):
    release: ReleaseId | None = None


class MigrationStatus(Answer):
    release: str
    code: int | None  # None: the command timed out
    output: str


class MigrationPlan(Answer):
    release: str
    output: str


class Migrated(Answer):
    """The result of ``migrate up|down``'s job."""

    deployment: int
    release: str
    output: str


# drills ------------------------------------------------------------------------------------
class Drill(Answer):
    """A disaster-recovery drill (``core/drill.py`` ``DrillRecord``)."""

    id: str
    env: str
    kind: str
    by: str
    started_at: float
    finished_at: float
    rto_target_s: float
    rpo_target_s: float
    status: str  # passed, failed (a target missed), error (nothing could be restored)
    loss_at: float | None
    marker_at: float | None
    marker_recovered: bool
    backup: str | None
    recovered_to: float | None
    rto_s: float | None
    rpo_s: float | None
    rto_ok: bool
    rpo_ok: bool
    error: str
    detail: str
    queries: list[QueryCheck] = Field(default_factory=list)


class DrillList(Answer):
    env: str
    drills: list[Drill]  # newest first


class DrillDone(Answer):
    """The result of a drill's job."""

    drill: Drill
