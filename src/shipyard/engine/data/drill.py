"""Disaster-recovery drills: ``shipyard drill ENV`` and scheduled drills.

A drill (1) writes a marker row (table ``shipyard_drill``, created if needed) into the live
database, (2) with continuous shipping, waits (at most the RPO target) for the WAL shipper
to have shipped past the marker, (3) declares the database lost at that moment, ``loss_at``:
from there it only uses what the backup storage held then (the backups taken by
``loss_at`` and the WAL shipped by then), never the live database, (4) restores the
latest recoverable state into a scratch location (checksums, decryption, WAL replay, the
engine's integrity check), (5) queries it, the marker included, then runs the user's
``database.backups.verify_queries`` on it. The clock for RTO runs from (4) to the answer of
(5); RPO comes from the marker (``core/drill.py``). (6) The marker rows are deleted from
the live database again (those a crashed drill left behind too). The result is appended to
``drills.json`` next to the backup catalog (all-or-nothing write). Running instances are
never touched. ``SqliteDrill`` (``engine/data/sqlite/drill.py``), ``PgDrill``
(``engine/data/postgres/drill.py``) and ``DumpDrill`` (``engine/data/postgres/dump_drill.py``,
an external server) are the engine-specific parts behind ``DrillPart``
(``engine/data/engines.py``), each engine handing out its own. Scheduled drills
run from a small loop like scheduled backups. Called by the API (``server/drill.py``) through the engine.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from dataclasses import replace

from shipyard.core.cron import due
from shipyard.core.drill import (
    DrillRecord,
    decode_drills,
    drill_due,
    drills_name,
    encode_drills,
    measure,
    new_drill_id,
    verdict,
)
from shipyard.core.jobs import Progress, no_progress
from shipyard.core.loops import LONG_RUNS_S
from shipyard.core.verify_queries import summarize
from shipyard.drivers.loops import Life, Loop, LoopOwner
from shipyard.engine.data.backups import BackupService
from shipyard.engine.data.engines import DrillPart, ShippedAt
from shipyard.errors import ConflictError, NotFoundError, ShipyardError

MAX_WAIT_S = 30.0


class Drills(LoopOwner):
    def __init__(
        self, backups: BackupService, shipped_at: ShippedAt | None = None, tick: float = 5.0
    ) -> None:
        self.backups = backups
        self.shipped_at = shipped_at
        self.tick = tick
        self.since = time.time()
        self._running: dict[str, threading.Lock] = {}
        self._attempted: dict[str, float] = {}
        self.loop = Loop(
            "drill-scheduler", self._tick, tick, late_after=LONG_RUNS_S, life=Life(join_timeout=30)
        )

    def engine_for(self, env: str) -> DrillPart:
        ctx = self.backups.ctx
        if env not in ctx.manifest.environments:
            known = ", ".join(sorted(ctx.manifest.environments))
            raise NotFoundError(f"environment {env!r} is not in shipyard.yaml (known: {known})", "pick one")
        return self.backups.engines.for_env(env).drill(self.shipped_at)

    # one drill ------------------------------------------------------------------------------
    def run(self, env: str, by: str, kind: str = "manual", progress: Progress = no_progress) -> DrillRecord:
        """Simulate losing ``env``'s database and measure the recovery; the result is kept."""
        drill = self.engine_for(env)
        lock = self._running.setdefault(env, threading.Lock())
        if not lock.acquire(blocking=False):
            raise ConflictError(f"a drill of {env} is running", "wait for it: `shipyard drill ENV --list`")
        try:
            record = self._run(drill, env, by, kind, progress)
            self._append(env, record)
            progress(f"drill {record.id}: {record.status}")
            return record
        finally:
            lock.release()

    def _run(self, drill: DrillPart, env: str, by: str, kind: str, progress: Progress) -> DrillRecord:
        db = self.backups.ctx.manifest.database_for(env)
        drill_id, started = new_drill_id(), time.time()
        base = DrillRecord(drill_id, env, kind, by, started, started, db.drill.rto, db.drill.rpo, "error")
        progress(f"marker: writing drill {drill_id}'s row into {env}'s live database")
        marker_at = drill.write_marker(env, drill_id)  # no database: refused, nothing recorded
        try:
            record = self._recover(drill, env, drill_id, replace(base, marker_at=marker_at), progress)
        except BaseException:
            with contextlib.suppress(ShipyardError):
                drill.delete_markers(env)
            raise
        try:
            progress(f"cleanup: {record.detail}; deleting the marker rows from the live database")
            drill.delete_markers(env)
        except ShipyardError as exc:  # the drill's result stands; the next drill deletes it
            return replace(record, detail=f"{record.detail}; its marker row is still in {env}'s database "
                           f"({exc.message}): the next drill deletes it")  # fmt: skip
        return record

    def _recover(
        self, drill: DrillPart, env: str, drill_id: str, base: DrillRecord, progress: Progress
    ) -> DrillRecord:
        db = self.backups.ctx.manifest.database_for(env)
        marker_at = base.marker_at or base.started_at
        if db.backups.continuous:
            progress(
                f"wait: for the WAL shipper to store the marker (at most {min(db.drill.rpo, MAX_WAIT_S):g}s)"
            )
            drill.wait_shipped(env, marker_at, min(db.drill.rpo, MAX_WAIT_S))
        progress("restore: the database declared lost; restoring the latest recoverable state into scratch")
        loss_at = time.time()
        base = replace(base, loss_at=loss_at)
        work = self.backups.scratch(f"drill-{drill_id}")
        try:
            restore_started = time.monotonic()
            got = drill.recover(env, loss_at, work, drill_id)
        except ShipyardError as exc:
            return replace(base, finished_at=time.time(), error=exc.message, detail=exc.hint)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        found = got.marker_recovered
        measured = measure(loss_at, restore_started, got.answered, marker_at, found, got.recovered_to)
        rto_ok, rpo_ok, status = verdict(measured, db.drill.rto, db.drill.rpo)
        detail = f"restored {got.backup}; " + (
            "the marker was recovered" if found else "the marker was not recovered"
        )
        if got.queries:
            passed, said = summarize(got.queries)
            status, detail = (status if passed else "failed"), f"{detail}; {said}"
        return replace(
            base,
            finished_at=time.time(),
            status=status,
            marker_recovered=found,
            backup=got.backup,
            recovered_to=got.recovered_to,
            rto_s=measured.rto_s,
            rpo_s=measured.rpo_s,
            rto_ok=rto_ok,
            rpo_ok=rpo_ok,
            detail=detail,
            queries=got.queries,
        )

    # the drills file ------------------------------------------------------------------------
    def history(self, env: str) -> list[DrillRecord]:
        self.engine_for(env)
        storage = self.backups.storage(env)
        try:
            with storage.get(drills_name(env)) as fh:
                return decode_drills(env, fh.read(), f"{storage.where}/{drills_name(env)}")
        except NotFoundError:
            return []

    def _append(self, env: str, record: DrillRecord) -> None:
        with self.backups.lock(env):
            drills = [d for d in self.history(env) if d.id != record.id]
            self.backups.storage(env).put(drills_name(env), [encode_drills(env, [*drills, record])])

    # schedule -------------------------------------------------------------------------------
    def start(self) -> list[str]:
        """Start the loop. The scratch clusters of interrupted drills are removed at start by
        the backup service's reconcile (``PgBackups.sweep_scratch``), before anything runs."""
        self.since = time.time()
        self.loop.start()
        return []

    def _tick(self) -> None:
        self.run_due(time.time())

    def run_due(self, now: float) -> list[str]:
        """Run the drills whose ``database.drill.schedule`` fired; returns their environments."""
        ran = []
        manifest = self.backups.ctx.manifest
        for env in manifest.environments:
            db = manifest.database_for(env)
            if db.drill.schedule is None:
                continue
            tried = self._attempted.get(env)
            try:
                if drill_due(db.drill.schedule, self.history(env), self.since, now) and (
                    tried is None or due(db.drill.schedule, tried, now)  # a refused one waits a turn
                ):
                    self._attempted[env] = now
                    self.run(env, "scheduler", "scheduled")
                    ran.append(env)
            except Exception as exc:  # a failed drill is recorded where it could be; keep scheduling
                self.loop.failed(exc, f"{env}: ")
        return ran
