"""The backup service: create, list, verify and restore an environment's database backups.

One framework for every engine: ``BackupService`` is the shared ``BackupStore``
(``engine/data/store.py``: catalog, storage, one way to write a backup) plus the choice of
engine (``engine/data/registry.py``), through which it calls the engine's implementation of
``DatabaseEngine`` (``engine/data/engines.py``: SQLite, managed PostgreSQL, an external
server) for what differs: taking, verifying and restoring a backup, its window. It owns
what they share: retention, the checks before a restore (same engine, what the engines
refuse) and the restore's deploy lock (which backup and point a restore reaches:
``engine/data/restore_points.py``). Backups of one environment are serialised by a lock; a
failed backup deletes what it stored, is recorded as failed, and never touches an earlier
backup or the catalog's other entries. Its drivers (the storage, PostgreSQL's programs) are
the composition root's choice, handed over as one ``DataDrivers``. Called by the API
(``server/backups.py``), deployments with migrations (``engine/data/migrations.py``) and the
scheduler.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from shipyard.core.backups import BackupRecord
from shipyard.core.jobs import Progress, no_progress
from shipyard.core.restore_point import describe
from shipyard.core.retention import Decision, Policy, plan_retention
from shipyard.drivers.data.interface import DataDrivers
from shipyard.engine.context import Context
from shipyard.engine.data.registry import DatabaseEngines
from shipyard.engine.data.restore_points import pick
from shipyard.engine.data.store import BackupStore, NewBackup, PrepareFn, RestoreTo, StepFn
from shipyard.engine.jobs import locked_job, run_step
from shipyard.errors import BackupError, ShipyardError

__all__ = ["BackupService", "NewBackup", "PrepareFn", "StepFn"]


class BackupService(BackupStore):
    def __init__(self, ctx: Context, drivers: DataDrivers) -> None:
        super().__init__(ctx, drivers.storage_for)
        self.engines = DatabaseEngines(self, drivers)  # each engine's implementation, built once

    def age(self, env: str, now: float) -> float | None:
        """Seconds since the newest moment a good backup of ``env`` can restore; None if none."""
        try:
            records = self.catalog(env).records
        except ShipyardError:
            return None
        newest = [r.recoverable_to or r.finished_at for r in records if r.good]
        return max(0.0, now - max(newest)) if newest else None

    def reconcile(self, env: str) -> list[str]:
        """After a crash: the catalog made whole (``reconcile_catalog``), then what a killed
        job of the engine's left (a copy into or out of ``env``, a scratch cluster)."""
        done = self.reconcile_catalog(env)
        return done + self.engines.for_env(env).reconcile(env)

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

    def _create(self, env: str, kind: str, reason: str, **fields: Any) -> BackupRecord:
        """Copy the database online, store and record it (the caller holds the lock)."""
        return self.engines.for_env(env).create(env, kind, reason, **fields)

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
        return self.engines.for_record(record).verify(record)

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
        if target != env:
            for each in (env, target):
                self.engines.for_env(each).refuse_other_environment(each, env, target)
        engine = self.engines.for_env(env)
        record, choice = pick(self.catalog(env), engine, self.window, backup_id, to_time)
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
        return self.engines.for_record(record).restore_locked(
            record, RestoreTo(target, step, to_time, prepare)
        )

    def list_with_windows(self, env: str) -> list[dict[str, Any]]:
        """The catalog, newest first; a continuous backup's window is read from its segments."""
        self._check_env(env)
        rows = []
        for record in reversed(self.catalog(env).records):
            row = record.to_json()
            if record.kind == "continuous" and record.status == "complete":
                row["recoverable_from"], row["recoverable_to"] = self.window(record)
            rows.append(row)
        return rows

    def window(self, record: BackupRecord) -> tuple[float, float]:
        """The span of time ``record`` can restore (a continuous one's grows as WAL ships)."""
        return self.engines.for_record(record).window(record)
