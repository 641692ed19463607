"""SQLite backups through the shared backup service: online snapshots, verify, restore.

A backup is an online copy through SQLite's backup API (``drivers/data/sqlite/backup.py``; a
continuous base is a copy taken at a known WAL frame, ``engine/data/sqlite/continuous.py``), stored
through zstd + AES-GCM as one object and catalogued like every engine's. ``fetch`` brings it
back (checksums checked) and replays a continuous backup's WAL segments up to a moment;
``verify`` fetches into a scratch folder, runs ``PRAGMA integrity_check`` and the user's verify
queries; ``restore_locked`` fetches, checks, lets ``prepare`` (masking) turn the copy into the
one restored, takes a safety backup of the target and swaps the file in. A target database
that is unreadable (not a database, ``quick_check`` fails) cannot be backed up: the safety
backup is skipped, saying why, and the broken file is renamed aside (never deleted) before the
copy takes its place. The result says the point reached and what was kept aside. Called by
``engine/data/sqlite/engine.py``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from shipyard.core.backups import BackupRecord, Verification, utc
from shipyard.core.verify_queries import QueryCheck
from shipyard.drivers.data.backup_pipeline import StoredFile, fetch_file, store_file
from shipyard.drivers.data.db_query import sqlite_rows
from shipyard.drivers.data.sqlite.backup import integrity, restore_into, set_aside, snapshot
from shipyard.engine.data.database import sqlite_file
from shipyard.engine.data.sqlite.pitr import replay
from shipyard.engine.data.store import BackupStore, RestoreTo
from shipyard.engine.data.verify_queries import with_queries
from shipyard.errors import BackupError

SNAPSHOT = "db.sqlite.zst.enc"


class SqliteBackups:
    def __init__(self, service: BackupStore) -> None:
        self.service = service

    def create(
        self,
        env: str,
        kind: str,
        reason: str,
        copy_into: Callable[[Path], None] | None = None,
        **fields: Any,
    ) -> BackupRecord:
        """Copy the database (``copy_into``, default an online snapshot), store and record it."""
        service = self.service
        with service.new_backup(env, "sqlite", kind, reason) as new:
            work = service.scratch(new.base.id)
            try:
                copy = work / "db.sqlite"
                if copy_into is None:
                    snapshot(sqlite_file(service.ctx, env), copy)
                else:
                    copy_into(copy)
                stored = store_file(new.storage, new.key, copy, new.name(SNAPSHOT), new.level)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            return service.commit(new, stored, "snapshot", **fields)

    def fetch(self, record: BackupRecord, work: Path, to_time: float | None = None) -> Path:
        """``record`` as a file in ``work`` (continuous: its WAL replayed up to ``to_time``)."""
        return self.fetch_to(record, work, to_time)[0]

    def fetch_to(
        self, record: BackupRecord, work: Path, to_time: float | None = None
    ) -> tuple[Path, tuple[float, str]]:
        """``fetch``, and the point the copy reached: a time and where in the WAL."""
        service = self.service
        key = service.checked_key(record)
        entry = next(o for o in record.objects if o.role == "snapshot")
        target = work / "db.sqlite"
        fields = {k: v for k, v in asdict(entry).items() if k != "role"}
        storage = service.storage(record.env)
        fetch_file(storage, key, StoredFile(**fields), target)
        if record.kind == "continuous":
            return target, replay(storage, key, record, target, to_time)
        return target, (record.recoverable_to or record.started_at, f"snapshot {record.id}")

    def verify(self, record: BackupRecord) -> BackupRecord:
        """Fetch into a scratch folder, check integrity and the verify queries, keep the result."""
        service = self.service
        work = service.scratch(f"verify-{record.id}")
        checks: tuple[QueryCheck, ...] = ()
        started = time.monotonic()
        try:
            copy = self.fetch(record, work)
            detail = integrity(copy)
            ok = detail == "ok"
            detail = "checksums and PRAGMA integrity_check ok" if ok else f"integrity_check: {detail}"
            took = time.monotonic() - started
            if ok:  # the user's verify queries, on the restored copy (not part of the restore time)
                suite = service.ctx.manifest.database_for(record.env).backups
                ok, detail, checks = with_queries(ok, detail, suite, lambda sql, t: sqlite_rows(copy, sql, t))
        except BackupError as exc:
            ok, detail, took = False, exc.message, time.monotonic() - started
        finally:
            shutil.rmtree(work, ignore_errors=True)
        verification = Verification(time.time(), ok, round(took, 3), detail, checks)
        return service.update(record.env, record.id, verification=verification)

    def restore_locked(self, record: BackupRecord, to: RestoreTo) -> dict[str, Any]:
        """Replace ``to.target``'s file with ``record`` (the caller holds the deploy lock)."""
        target, step, to_time, prepare = to.target, to.step, to.to_time, to.prepare
        service = self.service
        work = service.scratch(f"restore-{record.id}")
        try:

            def fetch() -> tuple[tuple[Path, tuple[float, str]], str]:
                copy, reached = self.fetch_to(record, work, to_time)
                found = integrity(copy)
                if found != "ok":
                    raise BackupError(
                        f"backup {record.id} fails PRAGMA integrity_check: {found}",
                        "restore another backup (`shipyard backup list`); nothing was replaced",
                    )
                said = f"{record.id} to {utc(reached[0])} ({reached[1]}): checksums and integrity_check ok"
                return (copy, reached), said

            copy, reached = step("fetch", fetch)
            if prepare is not None:
                copy = step(prepare.step, lambda: prepare(copy, work))
            live = sqlite_file(service.ctx, target)
            safety_id, broken = step("safety-backup", lambda: self._safety(record, target, live))
            started = time.monotonic()

            def swap() -> tuple[Path | None, str]:
                suffix = time.strftime("broken-%Y%m%dT%H%M%SZ", time.gmtime())
                with service.lock(target):  # no base snapshot of the broken file meanwhile
                    kept = set_aside(live, suffix) if broken else None
                    restore_into(copy, live)
                aside = f"; the broken database is kept aside as {kept}" if kept else ""
                return kept, f"{target}'s database is {record.id} ({time.monotonic() - started:.2f}s){aside}"

            kept = step("restore", swap)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return {"restored": record.id, "target": target, "safety_backup": safety_id, "to_time": to_time,
                "reached": {"at": reached[0], "position": reached[1]},
                "kept_aside": str(kept) if kept else None}  # fmt: skip

    def _safety(self, record: BackupRecord, target: str, live: Path) -> tuple[tuple[str | None, str], str]:
        """A safety backup of ``target``'s database; none when there is none, or when it is
        unreadable (the restore then keeps it aside): (backup id, what is wrong), message."""
        if not live.exists():
            return (None, ""), f"{target} has no database yet: nothing to keep"
        found = integrity(live, quick=True)
        if found != "ok":
            return (None, found), (
                f"safety backup skipped: {target}'s database {live} is unreadable ({found}); "
                "it will be kept aside, not deleted"
            )
        with self.service.lock(target):
            kept = self.create(target, "pre-restore", f"before restoring {record.id}")
        return (kept.id, ""), f"safety backup {kept.id} of {target}"
