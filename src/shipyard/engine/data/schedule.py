"""Runs scheduled backups and restore tests: a small loop in the control plane.

Every ``tick`` seconds it asks ``core.backups.due_jobs`` what each environment's
``database.backups.schedule`` and ``verify_schedule`` (cron, UTC) make due, and runs it
through the backup service (retention follows each backup), and keeps one WAL shipper
running per environment with ``continuous: true`` (SQLite's, or PostgreSQL's
``pg_receivewal``). What is due is computed from the catalog, so a restarted control
plane catches up on a missed run instead of losing it. A failure is recorded (a failed
catalog entry, or a failed verification) and shown in ``errors``; the loop goes on.
Started and stopped by the engine.
"""

from __future__ import annotations

import shutil
import threading
import time

from shipyard.core.backups import due_jobs
from shipyard.engine.data.backups import BackupService
from shipyard.engine.data.engines import WalShipping
from shipyard.errors import ShipyardError


class BackupScheduler:
    def __init__(self, backups: BackupService, tick: float = 5.0) -> None:
        self.backups = backups
        self.tick = tick
        self.since = time.time()
        self.errors: list[str] = []
        self.shippers: dict[str, WalShipping] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="backup-scheduler", daemon=True)

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
                self.errors.append(f"{time.ctime()}: {env}: {exc.message}")
        self._thread.start()
        return done

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        for shipper in self.shippers.values():
            shipper.stop()

    def _loop(self) -> None:
        self.converge_shippers()
        while not self._stop.wait(self.tick):
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
                self.errors = [*self.errors[-9:], f"{time.ctime()}: {env}: {exc}"]
        return ran
