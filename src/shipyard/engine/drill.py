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
never touched. ``SqliteDrill`` (here) and ``PgDrill`` (``engine/pg_drill.py``) are the
engine-specific parts behind ``DrillEngine``. Scheduled drills run from a small loop like
scheduled backups. Called by the API (``server/drill.py``) through the engine.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from shipyard.core.backups import BackupRecord
from shipyard.core.cron import due
from shipyard.core.drill import (
    DrillRecord,
    Recovered,
    decode_drills,
    drill_due,
    drills_name,
    encode_drills,
    latest_recoverable,
    measure,
    new_drill_id,
    verdict,
)
from shipyard.core.verify_queries import run_suite, summarize
from shipyard.drivers.db_query import sqlite_rows
from shipyard.drivers.sqlite_backup import integrity
from shipyard.engine.backups import BackupService
from shipyard.engine.database import sqlite_file
from shipyard.engine.pg_drill import PgDrill
from shipyard.engine.pg_dump_drill import DumpDrill
from shipyard.engine.pitr import segments_of
from shipyard.errors import BackupError, ConflictError, NotFoundError, ShipyardError

POLL_S = 0.05
MAX_WAIT_S = 30.0


class DrillEngine(Protocol):
    def write_marker(self, env: str, drill_id: str) -> float:
        """Insert the drill's marker row into the live database; when it was written."""
        ...

    def wait_shipped(self, env: str, after: float, limit: float) -> None:
        """Return once the marker (written at ``after``) is in the backup storage, or after
        ``limit`` seconds."""
        ...

    def recover(self, env: str, loss_at: float, work: Path, drill_id: str) -> Recovered:
        """Restore the newest state the storage held at ``loss_at`` into scratch (``work``
        or the engine's own), query it for the marker and run the verify queries."""
        ...

    def delete_markers(self, env: str) -> None:
        """Delete every marker row from the live database (the table stays)."""
        ...


ShippedAt = Callable[[str], float | None]


class SqliteDrill:
    def __init__(self, backups: BackupService, shipped_at: ShippedAt | None = None) -> None:
        self.backups = backups
        self.shipped_at = shipped_at

    def write_marker(self, env: str, drill_id: str) -> float:
        live = sqlite_file(self.backups.ctx, env)
        try:
            conn = sqlite3.connect(f"file:{live}?mode=rw", uri=True, timeout=5.0)
        except sqlite3.Error:
            raise BackupError(
                f"{env} has no database at {live} yet: there is nothing to lose in a drill",
                f"deploy {env} first; its app creates the database",
            ) from None
        try:
            with conn:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS shipyard_drill (id TEXT PRIMARY KEY, at REAL NOT NULL)"
                )
                at = time.time()
                conn.execute("INSERT INTO shipyard_drill (id, at) VALUES (?, ?)", (drill_id, at))
            return at
        except sqlite3.Error as exc:
            raise BackupError(f"the drill could not write its marker into {live}: {exc}", "retry") from None
        finally:
            conn.close()

    def _continuous(self, env: str, loss_at: float) -> list[BackupRecord]:
        return [
            r
            for r in self.backups.catalog(env).records
            if r.kind == "continuous" and r.good and r.started_at <= loss_at
        ]

    def wait_shipped(self, env: str, after: float, limit: float) -> None:
        """Until the WAL shipper has shipped past ``after`` (or ``limit`` seconds). The running
        shipper says when it last shipped; without one, the stored segments are listed."""
        deadline = time.monotonic() + limit
        storage = self.backups.storage(env)
        while time.monotonic() < deadline:
            shipped = self.shipped_at(env) if self.shipped_at is not None else None
            if shipped is not None and shipped > after:
                return
            if shipped is None:
                bases = self._continuous(env, time.time())
                if bases and any(s.at > after for s in segments_of(storage, bases[-1])):
                    return
            time.sleep(POLL_S)

    def recover(self, env: str, loss_at: float, work: Path, drill_id: str) -> Recovered:
        copy, backup, recovered_to = self._restore_latest(env, loss_at, work)
        found = self._probe(copy, drill_id)
        answered = time.monotonic()
        suite = self.backups.ctx.manifest.database_for(env).backups.verify_queries
        checks = run_suite(suite, lambda sql, timeout: sqlite_rows(copy, sql, timeout))
        return Recovered(backup, recovered_to, found, answered, checks)

    def delete_markers(self, env: str) -> None:
        live = sqlite_file(self.backups.ctx, env)
        try:
            conn = sqlite3.connect(f"file:{live}?mode=rw", uri=True, timeout=5.0)
            try:
                with conn:
                    if conn.execute(
                        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'shipyard_drill'"
                    ).fetchone():
                        conn.execute("DELETE FROM shipyard_drill")
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise BackupError(
                f"cannot delete the drill markers from {live}: {exc}", "retry the drill"
            ) from None

    def _restore_latest(self, env: str, loss_at: float, work: Path) -> tuple[Path, str, float]:
        storage = self.backups.storage(env)
        records = {r.id: r for r in self.backups.catalog(env).records if r.good and r.started_at <= loss_at}
        points = []
        for record in records.values():
            if record.kind == "continuous":
                shipped = [s.at for s in segments_of(storage, record) if s.at <= loss_at]
                points.append((record.id, max(shipped, default=record.recoverable_from or record.started_at)))
            else:
                points.append((record.id, record.recoverable_to or record.started_at))
        best = latest_recoverable(sorted(points, key=lambda p: records[p[0]].started_at))
        if best is None:
            raise BackupError(
                f"{env} has no complete backup to recover from: this loss would lose everything",
                f"take backups (`shipyard backup create {env}`, database.backups.schedule or continuous)",
            )
        record = records[best[0]]
        copy = self.backups._fetch(record, work, loss_at if record.kind == "continuous" else None)
        found = integrity(copy)
        if found != "ok":
            raise BackupError(
                f"the restored copy of {record.id} fails PRAGMA integrity_check: {found}",
                "restore another backup; verify them with `shipyard backup verify`",
            )
        return copy, record.id, best[1]

    def _probe(self, copy: Path, drill_id: str) -> bool:
        """Query the restored database; True when the drill's marker is in it."""
        try:
            conn = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if "shipyard_drill" not in names:
                    return False
                row = conn.execute("SELECT at FROM shipyard_drill WHERE id = ?", (drill_id,)).fetchone()
                return row is not None
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise BackupError(
                f"the restored database does not answer a query: {exc}", "verify the backups"
            ) from None


class Drills:
    def __init__(
        self, backups: BackupService, shipped_at: ShippedAt | None = None, tick: float = 5.0
    ) -> None:
        self.backups = backups
        self.shipped_at = shipped_at
        self.tick = tick
        self.since = time.time()
        self.errors: list[str] = []
        self._running: dict[str, threading.Lock] = {}
        self._attempted: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="drill-scheduler", daemon=True)

    def engine_for(self, env: str) -> DrillEngine:
        ctx = self.backups.ctx
        if env not in ctx.manifest.environments:
            known = ", ".join(sorted(ctx.manifest.environments))
            raise NotFoundError(f"environment {env!r} is not in shipyard.yaml (known: {known})", "pick one")
        db = ctx.manifest.database_for(env)
        if db.engine == "postgres" and db.url is not None:
            return DumpDrill(self.backups)
        if db.engine == "postgres":
            return PgDrill(self.backups, self.shipped_at)
        return SqliteDrill(self.backups, self.shipped_at)

    # one drill ------------------------------------------------------------------------------
    def run(self, env: str, by: str, kind: str = "manual") -> DrillRecord:
        """Simulate losing ``env``'s database and measure the recovery; the result is kept."""
        drill = self.engine_for(env)
        lock = self._running.setdefault(env, threading.Lock())
        if not lock.acquire(blocking=False):
            raise ConflictError(f"a drill of {env} is running", "wait for it: `shipyard drill ENV --list`")
        try:
            record = self._run(drill, env, by, kind)
            self._append(env, record)
            return record
        finally:
            lock.release()

    def _run(self, drill: DrillEngine, env: str, by: str, kind: str) -> DrillRecord:
        db = self.backups.ctx.manifest.database_for(env)
        drill_id, started = new_drill_id(), time.time()
        base = DrillRecord(drill_id, env, kind, by, started, started, db.drill.rto, db.drill.rpo, "error")
        marker_at = drill.write_marker(env, drill_id)  # no database: refused, nothing recorded
        try:
            record = self._recover(drill, env, drill_id, replace(base, marker_at=marker_at))
        except BaseException:
            with contextlib.suppress(ShipyardError):
                drill.delete_markers(env)
            raise
        try:
            drill.delete_markers(env)
        except ShipyardError as exc:  # the drill's result stands; the next drill deletes it
            return replace(record, detail=f"{record.detail}; its marker row is still in {env}'s database "
                           f"({exc.message}): the next drill deletes it")  # fmt: skip
        return record

    def _recover(self, drill: DrillEngine, env: str, drill_id: str, base: DrillRecord) -> DrillRecord:
        db = self.backups.ctx.manifest.database_for(env)
        marker_at = base.marker_at or base.started_at
        if db.backups.continuous:
            drill.wait_shipped(env, marker_at, min(db.drill.rpo, MAX_WAIT_S))
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
        self._thread.start()
        return []

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.wait(self.tick):
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
                self.errors = [*self.errors[-9:], f"{time.ctime()}: {env}: {exc}"]
        return ran
