"""Restoring a managed PostgreSQL backup in place of the environment's own data folder.

The backup is fetched and checked into the cluster's folder (``PgBackups.fetch``), a safety
backup of the running cluster is taken, then the folders are swapped and PostgreSQL recovers
on the restored one; if it does not come up, the folder from before is put back. A cluster
that is down and does not start (its data folder damaged) cannot be backed up: the safety
backup is skipped, saying why, and its folder is renamed aside (``data.broken-<time>``,
named in the output, never deleted). After recovery the server says how far it replayed
(LSN, last commit), which goes into the result with what was kept aside. Called by
``engine/data/postgres/engine.py``.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from shipyard.core.backups import BackupRecord, utc
from shipyard.engine.data.postgres.backups import PgBackups
from shipyard.engine.data.store import RestoreTo
from shipyard.errors import DatabaseError, ShipyardError

START_TIMEOUT_S = 30.0
REACHED_SQL = (
    "SELECT coalesce(pg_last_wal_replay_lsn()::text, '') || ' ' "
    "|| coalesce(extract(epoch FROM pg_last_xact_replay_timestamp())::text, '')"
)


def restore_in_place(pgb: PgBackups, record: BackupRecord, to: RestoreTo) -> dict[str, Any]:
    """Replace ``to.target``'s data folder with ``record`` (the caller holds the deploy lock)."""
    target, step, to_time = to.target, to.step, to.to_time
    work = pgb.clusters.folder(target) / f"restore-{record.id}"
    shutil.rmtree(work, ignore_errors=True)
    try:

        def fetch() -> tuple[tuple[Path, float], str]:
            pgb.recreate_record(record, target)
            work.mkdir(parents=True)
            work.chmod(0o711)
            end = pgb.window(record)[1]  # read before the WAL is listed: all it vouches for is fetched
            data = pgb.fetch(record, work, to_time, None)
            at = end if to_time is None else to_time
            return (data, at), f"{record.id} to {utc(at)}: checksums and pg_verifybackup ok"

        data, at = step("fetch", fetch)
        safety_id, broken = step("safety-backup", lambda: _safety(pgb, record, target))
        kept, reached = step("restore", lambda: _swap(pgb, target, data, broken))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"restored": record.id, "target": target, "safety_backup": safety_id, "to_time": to_time,
            "reached": {"at": at, **reached}, "kept_aside": str(kept) if kept else None}  # fmt: skip


def _safety(pgb: PgBackups, record: BackupRecord, target: str) -> tuple[tuple[str | None, str], str]:
    """A safety backup of ``target``'s cluster (started first if it is down); none when it has
    no data folder, or when it does not start: (backup id, what is wrong), message."""
    clusters, pg = pgb.clusters, pgb.clusters.pg
    live = clusters.pgdata(target)
    if not live.exists():
        return (None, ""), f"{target} has no PostgreSQL data folder yet: nothing to keep"
    if not pg.running(live):
        try:
            pg.start(live, clusters.log(target), timeout=START_TIMEOUT_S)
        except DatabaseError as exc:
            return (None, exc.message), (
                f"safety backup skipped: {target}'s PostgreSQL does not start ({exc.message}); "
                f"its data folder {live} will be kept aside, not deleted"
            )
    with pgb.service.lock(target):
        kept = pgb.create(target, "pre-restore", f"before restoring {record.id}")
    return (kept.id, ""), f"safety backup {kept.id} of {target}"


def _swap(
    pgb: PgBackups, target: str, data: Path, broken: str
) -> tuple[tuple[Path | None, dict[str, Any]], str]:
    """Swap the restored folder in and recover; a ``broken`` folder is kept aside, not removed."""
    clusters, pg = pgb.clusters, pgb.clusters.pg
    live, folder = clusters.pgdata(target), clusters.folder(target)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    old = folder / (f"data.broken-{stamp}" if broken else "data.before-restore")
    started = time.monotonic()
    pg.stop(live)
    if not broken:
        shutil.rmtree(old, ignore_errors=True)
    if live.exists():
        live.rename(old)
    data.rename(live)
    try:
        took = pgb.recover(live, clusters.conn(target), clusters.log(target))
    except ShipyardError as exc:
        _put_back(pgb, target, old, exc, start=not broken)
        raise
    reached = _reached(pgb, target)
    if not broken:
        shutil.rmtree(old, ignore_errors=True)
    aside = f"; the damaged data folder is kept aside as {old}" if broken else ""
    said = f"{target}'s PostgreSQL recovered in {took:.2f}s ({time.monotonic() - started:.2f}s in all)"
    return (old if broken else None, reached), said + aside


def _put_back(pgb: PgBackups, target: str, old: Path, exc: ShipyardError, start: bool) -> None:
    """The restored folder did not come up: the one from before goes back (started if it ran)."""
    clusters, pg = pgb.clusters, pgb.clusters.pg
    live = clusters.pgdata(target)
    pg.stop(live, "immediate")
    shutil.rmtree(live, ignore_errors=True)
    if not old.exists():
        return
    old.rename(live)
    if not start:
        return
    try:
        pg.start(live, clusters.log(target))
    except ShipyardError as again:
        raise DatabaseError(
            f"{exc.message}; the data folder from before the restore is back in place, "
            f"but did not start: {again.message}",
            f"start it: pg_ctl start -D {live}",
        ) from None


def _reached(pgb: PgBackups, target: str) -> dict[str, Any]:
    """How far recovery replayed: the LSN, and the time of the last commit replayed."""
    lsn, _, commit = pgb.clusters.pg.sql(pgb.clusters.conn(target), REACHED_SQL).partition(" ")
    position = f"WAL replayed to LSN {lsn}" if lsn else "no WAL replayed after the base backup"
    if commit:
        position += f", last commit replayed {utc(float(commit))}"
    return {"position": position, "lsn": lsn or None}
