"""Runs scheduled backups and restore tests: a small loop in the control plane.

Every ``tick`` seconds it asks ``core.backups.due_jobs`` what each environment's
``database.backups.schedule`` and ``verify_schedule`` (cron, UTC) make due, and runs it
through the backup service (retention follows each backup), and keeps one WAL shipper
running per environment with ``continuous: true`` (SQLite's, or PostgreSQL's
``pg_receivewal``). What is due is computed from the catalog, so a restarted control
plane catches up on a missed run instead of losing it. A failure is recorded (a failed
catalog entry, or a failed verification) and shown in ``errors``; the loop goes on
(``drivers/loops.py``; the shippers' loops are listed with its own in ``loops``).
Started and stopped by the engine.
"""

from __future__ import annotations

import shutil
import time

from shipyard.core.backups import due_jobs
from shipyard.core.loops import LONG_RUNS_S
from shipyard.drivers.loops import Life, Loop, LoopOwner, Task
from shipyard.engine.data.backups import BackupService
from shipyard.engine.data.engines import WalShipping
from shipyard.errors import ShipyardError


class BackupScheduler(LoopOwner):
    def __init__(self, backups: BackupService, tick: float = 5.0) -> None:
        self.backups = backups
        self.tick = tick
        self.since = time.time()
        self.shippers: dict[str, WalShipping] = {}
        life = Life(join_timeout=30, setup=self.converge_shippers)
        self.loop = Loop("backup-scheduler", self._tick, tick, late_after=LONG_RUNS_S, life=life)

    def start(self) -> list[str]:
        """Converge after a crash (scratch copies, half-written backups), then start the loop."""
        self.since = time.time()
        done: list[str] = self.backups.engines.sweep()  # scratch servers first, then their folders
        shutil.rmtree(self.backups.ctx.paths.home / "tmp", ignore_errors=True)
        manifest = self.backups.ctx.manifest
        for env in manifest.environments:
            try:
                done += self.backups.reconcile(env)
            except ShipyardError as exc:
                self.loop.failed(exc, f"{env}: ")
        self.loop.start()
        return done

    def stop(self) -> None:
        self.loop.stop()
        for shipper in self.shippers.values():
            shipper.stop()

    def loops(self) -> list[Task]:
        return [self.loop, *(shipper.loop for shipper in list(self.shippers.values()))]

    def _tick(self) -> None:
        self.converge_shippers()
        self.run_once(time.time())

    def converge_shippers(self) -> None:
        """One WAL shipper per environment with ``continuous: true`` (the manifest may change)."""
        manifest = self.backups.ctx.manifest
        wanted = {env for env in manifest.environments if manifest.database_for(env).backups.continuous}
        for env in set(self.shippers) - wanted:
            self.shippers.pop(env).stop()
        for env in wanted - set(self.shippers):
            shipper = self.backups.engines.for_env(env).shipper(env)
            if shipper is not None:
                self.shippers[env] = shipper
                shipper.start()

    def run_once(self, now: float) -> list[str]:
        """Run what is due in every environment; returns what ran, as ``env:job``."""
        ran = []
        manifest = self.backups.ctx.manifest
        for env in manifest.environments:
            db = manifest.database_for(env)
            try:
                catalog = self.backups.catalog(env)
                for job in due_jobs(
                    catalog, db.backups.schedule, db.backups.verify_schedule, self.since, now
                ):
                    if job == "backup":
                        self.backups.create(env, "scheduled", "on schedule")
                    else:
                        self.backups.verify(env)
                    ran.append(f"{env}:{job}")
            except Exception as exc:  # recorded in the catalog where it could be; keep scheduling
                self.loop.failed(exc, f"{env}: ")
        return ran
