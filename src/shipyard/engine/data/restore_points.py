"""The backup a restore uses and the point it aims for, read from the catalog and the windows.

``pick`` gathers what each good backup of an environment reaches (a continuous backup's
window from its shipped WAL, a snapshot's moment) and lets ``core.restore_point.choose``
decide; it refuses a time outside every window, and a point in time the engine cannot
restore (``DatabaseEngine.refuse_point_in_time``: an external server's dumps). Called by
``BackupService.restore`` (``engine/data/backups.py``).
"""

from __future__ import annotations

from collections.abc import Callable

from shipyard.core.backups import BackupRecord, Catalog, utc
from shipyard.core.restore_point import Choice, Reach, choose
from shipyard.engine.data.engines import DatabaseEngine
from shipyard.errors import BackupError

Window = Callable[[BackupRecord], tuple[float, float]]  # BackupService.window


def pick(
    catalog: Catalog,
    engine: DatabaseEngine,
    window: Window,
    backup_id: str | None,
    to_time: float | None,
) -> tuple[BackupRecord, Choice]:
    """The backup of ``catalog`` (its environment's, whose database ``engine`` is) a restore
    uses: the named one, the one reaching the newest point, or the continuous one whose window
    holds ``to_time`` (at or after its end: up to its end)."""
    env = catalog.env
    if backup_id is not None and to_time is None:
        record = catalog.find(backup_id)
        return record, Choice(record.id, None, True, None, record.kind == "continuous")
    if to_time is not None:
        engine.refuse_point_in_time(env)  # an external server's dumps: each restores its moment
    records = {r.id: r for r in catalog.records if r.good and backup_id in (None, r.id)}
    if not records and to_time is None:
        catalog.find(None)  # raises: no complete backup yet
    reaches = [reach(window, r) for r in records.values()]
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


def reach(window: Window, record: BackupRecord) -> Reach:
    if record.kind == "continuous":
        start, end = window(record)
        return Reach(record.id, start, end, True)
    moment = record.recoverable_to or record.started_at
    return Reach(record.id, moment, moment, False)
