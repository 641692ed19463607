"""The SQLite part of disaster-recovery drills (``engine/data/drill.py`` runs them).

The marker row goes into ``shipyard_drill`` of the live file; with continuous shipping the
drill waits until the WAL shipper has shipped past it (the running shipper says when it last
shipped; without one, the stored segments are listed); the newest backup by the loss (a
continuous base plus the segments shipped by then) is fetched into the drill's scratch
folder, checked with ``PRAGMA integrity_check`` and queried for the marker, then the user's
verify queries run on it read-only. Every marker row is deleted from the live file afterwards.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from shipyard.core.backups import BackupRecord
from shipyard.core.drill import Recovered, latest_recoverable
from shipyard.core.verify_queries import run_suite
from shipyard.drivers.data.db_query import sqlite_rows
from shipyard.drivers.data.sqlite.backup import integrity
from shipyard.engine.data.database import sqlite_file
from shipyard.engine.data.engines import ShippedAt
from shipyard.engine.data.sqlite.backups import SqliteBackups
from shipyard.engine.data.sqlite.pitr import segments_of
from shipyard.errors import BackupError

POLL_S = 0.05


class SqliteDrill:
    def __init__(self, parts: SqliteBackups, shipped_at: ShippedAt | None = None) -> None:
        self.backups = parts.service
        self.parts = parts
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
        copy = self.parts.fetch(record, work, loss_at if record.kind == "continuous" else None)
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
