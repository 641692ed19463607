"""The backup a restore uses and the point it aims for, read from the catalog and the windows.

``pick`` gathers what each good backup of an environment reaches (a continuous backup's
window from its shipped WAL, a snapshot's moment) and lets ``core.restore_point.choose``
decide; it refuses a time outside every window and point-in-time restores of an external
server's dumps. Called by ``BackupService.restore`` (``engine/data/backups.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.core.backups import BackupRecord, utc
from shipyard.core.database import is_external
from shipyard.core.restore_point import Choice, Reach, choose
from shipyard.errors import BackupError

if TYPE_CHECKING:
    from shipyard.engine.data.backups import BackupService


def pick(
    service: BackupService, env: str, backup_id: str | None, to_time: float | None
) -> tuple[BackupRecord, Choice]:
    """The backup a restore uses: the named one, the one reaching the newest point, or the
    continuous one whose window holds ``to_time`` (at or after its end: up to its end)."""
    catalog = service.catalog(env)
    if backup_id is not None and to_time is None:
        record = catalog.find(backup_id)
        return record, Choice(record.id, None, True, None, record.kind == "continuous")
    if to_time is not None and is_external(service.ctx.manifest.database_for(env)):
        raise BackupError(
            f"{env}'s database is an external server, backed up with pg_dump: each backup restores "
            "the moment it was taken, not a point in time",
            "restore the dump taken nearest that time with --backup ID (`shipyard backup list`)",
        )
    records = {r.id: r for r in catalog.records if r.good and backup_id in (None, r.id)}
    if not records and to_time is None:
        catalog.find(None)  # raises: no complete backup yet
    reaches = [reach(service, r) for r in records.values()]
    choice = choose(reaches, to_time)
    if choice is None:
        windows = [f"{utc(r.start)} to {utc(r.end)}" for r in reversed(reaches) if r.continuous]
        raise BackupError(
            f"{utc(to_time or 0)} is outside the recoverable window of {env}: "
            + ("; ".join(windows) if windows else "it has no continuous backup"),
            "pick a time inside a window shown here (`shipyard backup list` shows them), or set "
            "database.backups.continuous: true for point-in-time restores",
        )
    return records[choice.id], choice


def reach(service: BackupService, record: BackupRecord) -> Reach:
    if record.kind == "continuous":
        start, end = service.window(service.storage(record.env), record)
        return Reach(record.id, start, end, True)
    moment = record.recoverable_to or record.started_at
    return Reach(record.id, moment, moment, False)
