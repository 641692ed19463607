"""Drills of an external PostgreSQL server (``database.url``), whose backups are dumps.

Shipyard reaches such a server only as a client, so the drill does too: the marker row goes
into ``shipyard_drill`` on the server through psql (the url's tokens resolved with one
audited vault read, as for its dumps); there is no WAL to wait for; the loss is declared and
the newest good dump taken by then is fetched (checksums) and loaded into a scratch cluster
(``PgDumps.loaded``: ``initdb`` on a free port, ``pg_restore``), which is then queried for the
marker. The RTO clock covers fetch, ``initdb``, start, load and the first answer: what
rebuilding the database somewhere else would take. The RPO is the dump's age at the loss (a
dump never holds the marker written just before it). The user's verify queries run on the
scratch copy, and the server's marker rows are deleted afterwards. Called by ``engine/data/drill.py``.
"""

from __future__ import annotations

import time
from pathlib import Path

from shipyard.core.drill import (
    PG_DELETE_MARKERS,
    PG_MARKER_TABLE,
    Recovered,
    latest_recoverable,
    pg_insert_marker,
)
from shipyard.core.verify_queries import run_suite
from shipyard.drivers.data.db_query import postgres_rows
from shipyard.engine.data.postgres.drill import has_marker
from shipyard.engine.data.postgres.dumps import PgDumps, is_dump
from shipyard.errors import BackupError


class DumpDrill:
    def __init__(self, dumps: PgDumps) -> None:
        self.backups = dumps.service
        self.dumps = dumps
        self.pg = self.dumps.pg

    def _sql(self, env: str, statement: str, what: str) -> str:
        server = self.dumps.server(env, f"drill of {env}: {what}")
        return self.dumps.tools.sql(server, statement, f"the drill's {what} on {env}'s server")

    def write_marker(self, env: str, drill_id: str) -> float:
        at = time.time()
        self._sql(env, f"{PG_MARKER_TABLE}; {pg_insert_marker(drill_id, at)}", "marker")
        return at

    def wait_shipped(self, env: str, after: float, limit: float) -> None:
        """Nothing ships continuously from an external server: the newest dump is what there is."""

    def recover(self, env: str, loss_at: float, work: Path, drill_id: str) -> Recovered:
        records = {
            r.id: r for r in self.backups.catalog(env).records
            if r.good and is_dump(r) and r.started_at <= loss_at
        }  # fmt: skip
        ordered = sorted(records.values(), key=lambda r: r.started_at)
        best = latest_recoverable([(r.id, r.recoverable_to or r.started_at) for r in ordered])
        if best is None:
            raise BackupError(
                f"{env} has no complete dump to recover from: this loss would lose everything",
                f"take backups (`shipyard backup create {env}`, database.backups.schedule)",
            )
        suite = self.backups.ctx.manifest.database_for(env).backups.verify_queries
        with self.dumps.loaded(records[best[0]], work) as conn:
            found = has_marker(self.pg, conn, conn.database, drill_id)
            answered = time.monotonic()
            checks = run_suite(suite, lambda sql, timeout: postgres_rows(self.pg, conn, sql, timeout))
        return Recovered(best[0], best[1], found, answered, checks)

    def delete_markers(self, env: str) -> None:
        self._sql(
            env,
            PG_DELETE_MARKERS,
            "marker cleanup",
        )
