"""The PostgreSQL part of disaster-recovery drills (``engine/data/drill.py`` runs them).

- **Marker**: a row in ``shipyard_drill`` of the ``app`` database, written by the cluster's
  superuser in its own transaction; then ``pg_current_wal_lsn()``, which after the commit
  returned lies at or past the end of the commit record.
- **Shipped**: with continuous WAL the drill waits, in two steps, until the marker is in the
  backup storage. (1) The receiver has flushed past that LSN: ``pg_stat_replication.flush_lsn``
  of the walsender that holds the environment's replication slot (``pg_receivewal
  --synchronous`` reports a position only once it is fsynced into its folder). (2) The
  shipper then stored the folder: its ``last_shipped_at`` (or ``wal/head.json``) is after
  the moment of (1); a shipment takes its time before reading the folder, so everything
  flushed by then is in what it stored. ``pg_switch_wal()`` is not used: it would make the
  drill measure a server pushed to archive, not the shipping users rely on (the shipper
  stores the ``.partial`` segment as it grows), and it costs a 16 MiB segment per drill.
- **Recover**: the newest good backup by ``loss_at`` (a continuous one restores the WAL
  shipped, its window's end held at ``loss_at``; a base backup its own moment) restored
  into a scratch cluster on a free port (``PgBackups.scratch_cluster``: fetch, checksums,
  ``pg_verifybackup``, WAL replay, promotion), then queried for the marker: the RTO clock
  covers all of that up to the answer. Recovery replays every stored segment rather than
  stopping at ``loss_at``: PostgreSQL refuses to end a recovery whose target time lies
  past the last commit in the WAL, which is where a drill's loss always is. So when the wait
  did not see the marker stored by the loss, a marker that WAL shipped later brings back does
  not count, and the window ends at the newest shipment seen (``core.drill.held_at_loss``):
  the drill never reports a better RPO than the storage held. Then the verify
  queries run on the scratch cluster as the app's role, read-only; the cluster is stopped
  and removed.
- **Cleanup**: every row of ``shipyard_drill`` in the live database is deleted afterwards.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path

from shipyard.core.backups import BackupRecord
from shipyard.core.drill import (
    PG_DELETE_MARKERS,
    PG_MARKER_TABLE,
    PG_NO_MARKER_TABLE,
    Recovered,
    checked_drill_id,
    held_at_loss,
    latest_recoverable,
    pg_count_marker,
    pg_insert_marker,
)
from shipyard.core.postgres import slot_name
from shipyard.core.verify_queries import run_suite
from shipyard.drivers.data.db_query import postgres_rows
from shipyard.drivers.data.interface import Conn, PostgresPrograms
from shipyard.engine.data.engines import ShippedAt
from shipyard.engine.data.postgres.backups import PgBackups
from shipyard.errors import BackupError, DatabaseError

POLL_S = 0.05


class PgDrill:
    def __init__(self, parts: PgBackups, shipped_at: ShippedAt | None = None) -> None:
        self.backups = parts.service
        self.parts = parts
        self.clusters = parts.clusters
        self.pg = self.clusters.pg
        self.shipped_at = shipped_at
        self._marker_lsn: str | None = None
        self.confirmed: bool | None = None  # None: no wait (no continuous WAL)
        self.seen: float | None = None

    def _admin(self, env: str) -> Conn:
        """The live cluster's superuser, in the app's database."""
        return self.clusters.conn(env, "app")

    def write_marker(self, env: str, drill_id: str) -> float:
        checked_drill_id(drill_id)
        clusters = self.clusters
        if clusters.cluster(env) is None or not self.pg.running(clusters.pgdata(env)):
            raise BackupError(
                f"{env}'s PostgreSQL is not running: there is nothing to lose in a drill",
                f"deploy {env} first; its first deployment creates the cluster (`shipyard status`)",
            )
        conn = self._admin(env)
        try:
            self.pg.sql(conn, PG_MARKER_TABLE)
            at = time.time()
            self.pg.sql(conn, pg_insert_marker(drill_id, at))
            self._marker_lsn = self.pg.sql(conn, "SELECT pg_current_wal_lsn()")
        except DatabaseError as exc:
            raise BackupError(
                f"the drill could not write its marker into {env}: {exc.message}", "retry"
            ) from None
        return at

    # shipped ----------------------------------------------------------------------------------
    def wait_shipped(self, env: str, after: float, limit: float) -> None:
        """Sets ``confirmed`` (the marker was seen stored) and ``seen`` (the newest shipment)."""
        deadline = time.monotonic() + limit
        self.confirmed = False
        flushed = self._wait_flushed(env, deadline)
        while True:
            shipped = self._shipped_at(env)
            if shipped is not None:
                self.seen = max(shipped, self.seen or shipped)
                if flushed is not None and shipped > flushed:
                    self.confirmed = True
                    return
            if flushed is None or time.monotonic() >= deadline:
                return
            time.sleep(POLL_S)

    def _wait_flushed(self, env: str, deadline: float) -> float | None:
        """When the receiver was seen to have flushed past the marker; None by the deadline."""
        if self._marker_lsn is None or not re.match(r"^[0-9A-F]+/[0-9A-F]+$", self._marker_lsn):
            return None
        query = (
            "SELECT coalesce((SELECT r.flush_lsn >= '" + self._marker_lsn + "'::pg_lsn "
            "FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid "
            f"WHERE s.slot_name = '{slot_name(env)}'), false)"
        )
        while time.monotonic() < deadline:
            try:
                if self.pg.sql(self.clusters.conn(env), query) == "t":
                    return time.time()
            except DatabaseError:
                pass  # the cluster did not answer this once: the deadline bounds the wait
            time.sleep(POLL_S)
        return None

    def _shipped_at(self, env: str) -> float | None:
        if self.shipped_at is not None:
            return self.shipped_at(env)
        bases = self._continuous(env, time.time())
        return self.parts.window(bases[-1])[1] if bases else None

    def _continuous(self, env: str, by: float) -> list[BackupRecord]:
        return [
            r for r in self.backups.catalog(env).records
            if r.kind == "continuous" and r.good and r.started_at <= by
        ]  # fmt: skip

    # recover ----------------------------------------------------------------------------------
    def recover(self, env: str, loss_at: float, work: Path, drill_id: str) -> Recovered:
        records = {
            r.id: r for r in self.backups.catalog(env).records
            if r.good and r.engine == "postgres" and r.started_at <= loss_at
        }  # fmt: skip
        points, counts = [], {}
        for record in sorted(records.values(), key=lambda r: r.started_at):
            start, end = self.parts.window(record)
            point, counts[record.id] = (
                held_at_loss(start, end, loss_at, self.confirmed, self.seen)
                if record.kind == "continuous"
                else (end, True)
            )
            points.append((record.id, point))
        best = latest_recoverable(points)
        if best is None:
            raise BackupError(
                f"{env} has no complete backup to recover from: this loss would lose everything",
                f"take backups (`shipyard backup create {env}`, database.backups.schedule or continuous)",
            )
        record = records[best[0]]
        suite = self.backups.ctx.manifest.database_for(env).backups.verify_queries
        with self.parts.scratch_cluster(record, None, "drill") as (conn, _):
            found = self._probe(conn, drill_id)
            answered = time.monotonic()
            as_app = replace(self.clusters.app_conn(env), port=conn.port)
            checks = run_suite(suite, lambda sql, timeout: postgres_rows(self.pg, as_app, sql, timeout))
        return Recovered(record.id, best[1], found and counts[record.id], answered, checks)

    def _probe(self, conn: Conn, drill_id: str) -> bool:
        """True when the restored ``app`` database holds the drill's marker."""
        return has_marker(self.pg, conn, "app", drill_id)

    # cleanup ----------------------------------------------------------------------------------
    def delete_markers(self, env: str) -> None:
        try:
            self.pg.sql(
                self._admin(env),
                PG_DELETE_MARKERS,
            )
        except DatabaseError as exc:
            raise BackupError(f"cannot delete the drill markers from {env}: {exc.message}", "retry") from None


def has_marker(pg: PostgresPrograms, conn: Conn, database: str, drill_id: str) -> bool:
    """True when ``database`` of a restored copy holds the drill's marker (both PostgreSQL drills)."""
    try:
        if pg.sql(conn, PG_NO_MARKER_TABLE, database) == "t":
            return False
        return pg.sql(conn, pg_count_marker(drill_id), database) == "1"
    except DatabaseError as exc:
        raise BackupError(
            f"the restored database does not answer a query: {exc.message}", "verify the backups"
        ) from None
