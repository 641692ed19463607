"""The backup service: create, list, verify and restore an environment's database backups.

One framework for every engine: a backup is a set of stored objects (compressed,
encrypted, checksummed by ``drivers/data/backup_pipeline.py``) plus a catalog entry with its
manifest, kept in the environment's folder of the backup storage. Each engine's part is its
own module: SQLite snapshots (``engine/data/sqlite/backups.py``), a managed PostgreSQL's base
backups and WAL (``engine/data/postgres/backups.py``; copies into another environment in
``engine/data/postgres/copies.py``) and an external server's dumps (``engine/data/postgres/dumps.py``); this
service dispatches to them and owns what they share: the catalog, one way to write a backup
(``new_backup``/``commit``), retention, and the restore's deploy lock (which backup and point
a restore reaches: ``engine/data/restore_points.py``). Backups of one environment are serialised
by a lock; a failed backup deletes what it stored, is recorded as failed, and never touches an
earlier backup or the catalog's other entries. Called by the API (``server/backups.py``),
deployments with migrations (``engine/data/migrations.py``) and the scheduler.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from shipyard.core.backups import (
    BackupRecord,
    Catalog,
    ObjectEntry,
    catalog_name,
    new_backup_id,
    object_name,
)
from shipyard.core.database import is_external
from shipyard.core.jobs import Progress, no_progress
from shipyard.core.restore_point import describe
from shipyard.core.retention import Decision, Policy, plan_retention
from shipyard.drivers.data.backup_crypto import BackupKey, load_backup_key
from shipyard.drivers.data.backup_pipeline import StoredFile
from shipyard.drivers.data.backup_storage import BackupStorage, LocalFolderStorage
from shipyard.engine.context import Context
from shipyard.engine.data.postgres.backups import PgBackups
from shipyard.engine.data.postgres.copies import PgCopies
from shipyard.engine.data.postgres.dumps import PgDumps, is_dump
from shipyard.engine.data.restore_points import pick
from shipyard.engine.data.sqlite.backups import SqliteBackups
from shipyard.engine.data.sqlite.pitr import recoverable_range
from shipyard.engine.jobs import locked_job, run_step
from shipyard.errors import BackupError, NotFoundError, ShipyardError

StepFn = Callable[[str, Callable[[], tuple[Any, str]]], Any]
MANIFEST = "manifest.json"


@dataclass
class NewBackup:
    """A backup being written (``BackupService.new_backup``): its record so far, where it goes,
    and the names of the objects it has stored, deleted again if it fails."""

    base: BackupRecord
    storage: BackupStorage
    key: BackupKey
    level: int
    names: list[str] = field(default_factory=list)

    def name(self, leaf: str) -> str:
        """The storage name of one of this backup's objects (registered for clean-up)."""
        name = object_name(self.base.env, self.base.id, leaf)
        self.names.append(name)
        return name


class PrepareFn(Protocol):
    """Turns a fetched, verified copy into the copy restored (``engine/data/masking.py``): the
    copy is a file for SQLite, the scratch cluster's ``Conn`` for PostgreSQL."""

    step: str

    def __call__(self, copy: Any, work: Path) -> tuple[Any, str]: ...


class BackupService:
    def __init__(
        self, ctx: Context, storage_for: Callable[[Path], BackupStorage] = LocalFolderStorage
    ) -> None:
        self.ctx = ctx
        self.storage_for = storage_for
        self.sqlite = SqliteBackups(self)  # each engine's parts
        self.pg = PgBackups(self)  # the PostgreSQL engine's parts
        self.dumps = PgDumps(self)  # an external PostgreSQL server's (pg_dump)
        self.pg_copies = PgCopies(self.pg)  # managed PostgreSQL into another environment

    def lock(self, env: str) -> threading.RLock:
        """Serialises one environment's backups and catalog writes across the engine."""
        return self.ctx.locks.backup(env)

    # where things are -----------------------------------------------------------------------
    def storage(self, env: str) -> BackupStorage:
        folder = self.ctx.manifest.database_for(env).backups.folder
        root = Path(folder) if folder else Path("backups")
        return self.storage_for(root if root.is_absolute() else self.ctx.paths.home.resolve() / root)

    def key(self) -> BackupKey:
        return load_backup_key(self.ctx.paths.home / "backup.key")

    def scratch(self, name: str) -> Path:
        path = self.ctx.paths.home.resolve() / "tmp" / f"{name}-{secrets.token_hex(3)}"
        path.mkdir(parents=True)
        return path

    def _check_env(self, env: str) -> None:
        if env not in self.ctx.manifest.environments:
            known = ", ".join(sorted(self.ctx.manifest.environments))
            raise NotFoundError(f"environment {env!r} is not in shipyard.yaml (known: {known})", "pick one")

    def age(self, env: str, now: float) -> float | None:
        """Seconds since the newest moment a good backup of ``env`` can restore; None if none."""
        try:
            records = self.catalog(env).records
        except ShipyardError:
            return None
        newest = [r.recoverable_to or r.finished_at for r in records if r.good]
        return max(0.0, now - max(newest)) if newest else None

    # the catalog ----------------------------------------------------------------------------
    def catalog(self, env: str) -> Catalog:
        storage = self.storage(env)
        try:
            with storage.get(catalog_name(env)) as fh:
                return Catalog.decode(env, fh.read(), f"{storage.where}/{catalog_name(env)}")
        except NotFoundError:
            return self._rebuild(env, storage)

    def _rebuild(self, env: str, storage: BackupStorage) -> Catalog:
        """No catalog (lost, or none yet): rebuild it from each backup's own manifest."""
        catalog = Catalog(env)
        for obj in storage.list(f"{env}/"):
            if obj.name.endswith("/" + MANIFEST):
                with storage.get(obj.name) as fh:
                    catalog = catalog.with_record(BackupRecord.from_json(json.loads(fh.read())))
        return catalog

    def reconcile(self, env: str) -> list[str]:
        """After a crash mid-backup: catalog a backup whose manifest was written but not its
        catalog entry, and delete the objects of one that never got a manifest."""
        done: list[str] = []
        with self.lock(env):
            storage, catalog = self.storage(env), self.catalog(env)
            known = {r.id for r in catalog.records}
            by_backup: dict[str, list[str]] = {}
            for obj in storage.list(f"{env}/"):
                parts = obj.name.split("/")
                if len(parts) >= 3 and parts[1].startswith("b-"):
                    by_backup.setdefault(parts[1], []).append(obj.name)
            for backup_id, names in by_backup.items():
                if backup_id in known:
                    continue
                manifest = object_name(env, backup_id, MANIFEST)
                if manifest in names:
                    with storage.get(manifest) as fh:
                        catalog = catalog.with_record(BackupRecord.from_json(json.loads(fh.read())))
                    done.append(f"{env}: catalogued {backup_id} (its catalog entry was missing)")
                else:
                    for name in names:
                        storage.delete(name)
                    done.append(f"{env}: deleted the half-written backup {backup_id}")
            if done:
                self._save(env, catalog)
        db = self.ctx.manifest.database_for(env)
        if db.engine == "postgres" and db.managed:
            done += self.pg_copies.reconcile(env)  # a copy into or out of env that was killed
        return done

    def _save(self, env: str, catalog: Catalog) -> None:
        self.storage(env).put(catalog_name(env), [catalog.encode()])

    # create ---------------------------------------------------------------------------------
    def create(
        self, env: str, kind: str = "manual", reason: str = "", progress: Progress = no_progress
    ) -> BackupRecord:
        self._check_env(env)
        with self.lock(env):
            progress(f"snapshot: copying {env}'s database online, compressing, encrypting and storing it")
            record = self._create(env, kind, reason)
            progress(f"stored: {record.id}, {record.size} bytes from {record.source_bytes}")
            decision = self.apply_retention(env)
            progress(f"retention: {len(decision.delete)} older backups deleted")
            return record

    def _create(
        self,
        env: str,
        kind: str,
        reason: str,
        copy_into: Callable[[Path], None] | None = None,
        **fields: Any,
    ) -> BackupRecord:
        """Copy the database (``copy_into``, default an online snapshot), store and record it."""
        if is_external(self.ctx.manifest.database_for(env)) and copy_into is None:
            return self.dumps.create(env, kind, reason, **fields)
        if self.ctx.manifest.database_for(env).engine == "postgres" and copy_into is None:
            return self.pg.create(env, kind, reason, **fields)
        return self.sqlite.create(env, kind, reason, copy_into, **fields)

    @contextlib.contextmanager
    def new_backup(self, env: str, engine: str, kind: str, reason: str) -> Iterator[NewBackup]:
        """A backup being written, for every engine: the objects it names (``NewBackup.name``)
        are deleted and the attempt is recorded as failed if anything in the block fails, so a
        failed backup never leaves half an object or touches an earlier one."""
        started = time.time()
        base = BackupRecord(new_backup_id(), env, engine, kind, "failed", started, started, reason=reason)
        level = self.ctx.manifest.database_for(env).backups.compression_level
        new = NewBackup(base, self.storage(env), self.key(), level)
        try:
            yield new
        except ShipyardError as exc:
            for name in new.names:
                new.storage.delete(name)
            self._record_failure(env, replace(base, finished_at=time.time(), error=exc.message))
            raise

    def commit(self, new: NewBackup, stored: StoredFile, role: str, **fields: Any) -> BackupRecord:
        """Record a backup whose object is stored: its manifest beside it, then its catalog entry.
        It restores the moment it started unless ``fields`` say otherwise."""
        base = new.base
        record = replace(
            base,
            status="complete",
            finished_at=time.time(),
            source_bytes=stored.plain_bytes,
            size=stored.stored_bytes,
            checksum=stored.stored_sha256,
            key_id=new.key.id,
            objects=(ObjectEntry(role=role, **asdict(stored)),),
            **{"recoverable_from": base.started_at, "recoverable_to": base.started_at, **fields},
        )
        manifest = json.dumps(record.to_json(), sort_keys=True).encode()
        new.storage.put(new.name(MANIFEST), [manifest])
        self._save(base.env, self.catalog(base.env).with_record(record))
        return record

    def checked_key(self, record: BackupRecord) -> BackupKey:
        """The backup key, if it is the one ``record`` was encrypted with."""
        key = self.key()
        if record.key_id and record.key_id != key.id:
            raise BackupError(
                f"backup {record.id} was encrypted with backup key {record.key_id}; "
                f"the key in use ({key.source}) is {key.id}",
                "set SHIPYARD_BACKUP_KEY to the key the backup was made with",
            )
        return key

    def _record_failure(self, env: str, record: BackupRecord) -> None:
        # if the storage refuses even the catalog (disk full), the caller still reports the cause
        with contextlib.suppress(ShipyardError):
            self._save(env, self.catalog(env).with_record(record))

    def apply_retention(self, env: str, now: float | None = None) -> Decision:
        with self.lock(env):
            rules = self.ctx.manifest.database_for(env).backups.retention
            policy = Policy(
                rules.hourly, rules.daily, rules.weekly, rules.monthly, rules.minimum, rules.recovery_window
            )
            catalog = self.catalog(env)
            decision = plan_retention(catalog.records, policy, time.time() if now is None else now)
            if decision.delete:
                doomed = set(decision.delete)
                self._save(env, catalog.without(doomed))  # catalog first: never lists a deleted backup
                storage = self.storage(env)
                for record in catalog.records:
                    if record.id in doomed:
                        for obj in storage.list(f"{env}/{record.id}/"):
                            storage.delete(obj.name)
            return decision

    # verify ---------------------------------------------------------------------------------
    def verify(
        self, env: str, backup_id: str | None = None, progress: Progress = no_progress
    ) -> BackupRecord:
        """Restore into a scratch folder, check checksums and integrity, keep the result."""
        self._check_env(env)
        record = self.catalog(env).find(backup_id)
        progress(f"verify: restoring {record.id} into scratch; checksums, integrity, verify queries")
        if is_dump(record):
            return self.dumps.verify(record)
        if record.engine == "postgres":
            return self.pg.verify(record)
        return self.sqlite.verify(record)

    def update(self, env: str, backup_id: str, **changes: Any) -> BackupRecord:
        """Change fields of one catalog entry (re-read under the lock, so no change is lost)."""
        with self.lock(env):
            catalog = self.catalog(env)
            current = next((r for r in catalog.records if r.id == backup_id), None)
            if current is None:
                raise BackupError(
                    f"backup {backup_id} left the catalog of {env} meanwhile", "list them again"
                )
            changed = replace(current, **changes)
            self._save(env, catalog.with_record(changed))
            return changed

    # restore --------------------------------------------------------------------------------
    def restore(
        self,
        env: str,
        by: str,
        backup_id: str | None = None,
        target: str | None = None,
        to_time: float | None = None,
        prepare: PrepareFn | None = None,
        progress: Progress = no_progress,
    ) -> dict[str, Any]:
        """Replace ``target``'s (default ``env``'s) database with a backup of ``env``, under the
        target's deploy lock, after a safety backup of the target (skipped, the broken database
        kept aside, when the target's is unreadable). Without ``backup_id`` and ``to_time`` it
        goes to the newest point shipped; the result's ``point`` says which, ``kept_aside``
        where a broken database went. ``prepare`` (masking) turns the verified copy into the
        one restored, before anything of the target is touched."""
        target = target or env
        self._check_env(env)
        self._check_env(target)
        source_engine, target_engine = (self.ctx.manifest.database_for(e).engine for e in (env, target))
        if source_engine != target_engine:
            raise BackupError(
                f"cannot restore {env}'s {source_engine} backups into {target}, whose database is "
                f"{target_engine}: a restore copies between databases of the same engine",
                f"give {target} the same database.engine as {env} in shipyard.yaml, or restore into {env}",
            )
        external = [e for e in (env, target) if is_external(self.ctx.manifest.database_for(e))]
        if external and target != env:
            raise BackupError(
                f"cannot restore {env}'s backups into {target}: {external[0]}'s database is an external "
                "server, and restores into another environment are for managed PostgreSQL clusters only",
                f"restore into {env} itself, or give both `managed: true`",
            )
        record, choice = pick(self, env, backup_id, to_time)
        with locked_job(self.ctx, target, "restore", by, f"{env}/{record.id}") as dep_id:

            def step(name: str, fn: Callable[[], tuple[Any, str]]) -> Any:
                return run_step(self.ctx, dep_id, name, fn, progress)

            done = self.restore_locked(record, target, step, choice.to_time, prepare)
            reached = done.pop("reached", None)
            if reached is not None:  # the point reached, in the restore's record and its result
                said = describe(choice, reached["at"], reached["position"])
                done["point"] = {**reached, "newest": choice.newest, "asked": choice.asked, "said": said}
                step("point", lambda: (None, said))
        return {"deployment": dep_id, **done}

    def restore_locked(
        self,
        record: BackupRecord,
        target: str,
        step: StepFn,
        to_time: float | None = None,
        prepare: PrepareFn | None = None,
    ) -> dict[str, Any]:
        """The restore itself, each part a recorded step; the caller holds ``target``'s deploy lock."""
        if is_dump(record):
            return self.dumps.restore_locked(record, target, step, to_time)
        if record.engine == "postgres" and target != record.env:
            return self.pg_copies.restore_locked(record, target, step, to_time, prepare)
        if record.engine == "postgres":
            return self.pg.restore_locked(record, target, step, to_time)
        return self.sqlite.restore_locked(record, target, step, to_time, prepare)

    def list_with_windows(self, env: str) -> list[dict[str, Any]]:
        """The catalog, newest first; a continuous backup's window is read from its segments."""
        self._check_env(env)
        storage = self.storage(env)
        rows = []
        for record in reversed(self.catalog(env).records):
            row = record.to_json()
            if record.kind == "continuous" and record.status == "complete":
                row["recoverable_from"], row["recoverable_to"] = self.window(storage, record)
            rows.append(row)
        return rows

    def window(self, storage: BackupStorage, record: BackupRecord) -> tuple[float, float]:
        """The span of time ``record`` can restore (a continuous one's grows as WAL ships)."""
        if record.engine == "postgres":
            return self.pg.window(record)
        return recoverable_range(storage, self.key(), record)
