"""What every database engine's backups share: the catalog, the storage, and one way to write a backup.

A backup is a set of stored objects (compressed, encrypted, checksummed by
``drivers/data/backup_pipeline.py``) plus a catalog entry with its manifest, kept in the
environment's folder of the backup storage. ``BackupStore`` owns where things are (storage,
key, scratch folders), the catalog (rebuilt from the backups' own manifests if lost), a
backup being written (``new_backup``/``commit``: a failed one deletes what it stored and is
recorded as failed) and each environment's lock. The engines' implementations
(``engine/data/sqlite/``, ``engine/data/postgres/``) write through it; ``BackupService``
(``engine/data/backups.py``) is this store plus the choice of engine.
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
from shipyard.drivers.data.backup_crypto import BackupKey, load_backup_key
from shipyard.drivers.data.backup_pipeline import StoredFile
from shipyard.drivers.data.interface import BackupStorage, StorageFor
from shipyard.engine.context import Context
from shipyard.errors import BackupError, NotFoundError, ShipyardError

StepFn = Callable[[str, Callable[[], tuple[Any, str]]], Any]
MANIFEST = "manifest.json"


@dataclass
class NewBackup:
    """A backup being written (``BackupStore.new_backup``): its record so far, where it goes,
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


@dataclass(frozen=True)
class RestoreTo:
    """Where a restore goes once its backup is picked (``DatabaseEngine.restore_locked``):
    ``target``'s database, as of ``to_time``, the fetched copy turned by ``prepare`` (masking),
    each part recorded by ``step`` under the target's deploy lock."""

    target: str
    step: StepFn
    to_time: float | None = None
    prepare: PrepareFn | None = None


class BackupStore:
    def __init__(self, ctx: Context, storage_for: StorageFor) -> None:
        self.ctx = ctx
        self.storage_for = storage_for

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

    def reconcile_catalog(self, env: str) -> list[str]:
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
        return done

    def _save(self, env: str, catalog: Catalog) -> None:
        self.storage(env).put(catalog_name(env), [catalog.encode()])

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
