"""The two PostgreSQL engines behind ``DatabaseEngine`` (``engine/data/engines.py``).

``ManagedPostgresEngine``: a cluster Shipyard runs (``engine/data/postgres/managed.py``, the one
``ManagedPostgres`` the registry holds): base backups and their window are ``PgBackups``'s
(``engine/data/postgres/backups.py``), continuous WAL ``continuous.py``'s; a restore goes in
place (``restores.py``) or into another environment's cluster (``copies.py``); the scratch
cluster is masked by ``mask.py`` and drilled by ``drill.py``. ``ExternalPostgresEngine``: a
server given by ``url``, reached only as a client: its dumps are ``PgDumps``'s (``dumps.py``),
drilled by ``dump_drill.py``; no point in time and no restore into another environment.
Chosen by ``engine/data/registry.py``.
"""

from __future__ import annotations

from typing import Any

from shipyard.core.backups import BackupRecord
from shipyard.engine.data.engines import DrillPart, EngineDefaults, ShippedAt
from shipyard.engine.data.postgres.backups import PgBackups
from shipyard.engine.data.postgres.continuous import PgWalShipper
from shipyard.engine.data.postgres.copies import PgCopies
from shipyard.engine.data.postgres.drill import PgDrill
from shipyard.engine.data.postgres.dump_drill import DumpDrill
from shipyard.engine.data.postgres.dumps import PgDumps
from shipyard.engine.data.postgres.managed import ManagedPostgres
from shipyard.engine.data.postgres.mask import PgMasker
from shipyard.engine.data.postgres.restores import restore_in_place
from shipyard.engine.data.store import BackupStore, RestoreTo
from shipyard.errors import BackupError


class ManagedPostgresEngine(PgBackups, EngineDefaults):
    name = "managed postgres"

    def __init__(self, store: BackupStore, clusters: ManagedPostgres) -> None:
        super().__init__(store, clusters)
        self.copies = PgCopies(self)

    def restore_locked(self, record: BackupRecord, to: RestoreTo) -> dict[str, Any]:
        """Into another environment: a logical copy (masked by ``to.prepare``); else in place."""
        if to.target != record.env:
            return self.copies.restore_locked(record, to)
        return restore_in_place(self, record, to)

    def masker(self) -> PgMasker:
        return PgMasker(self.clusters.pg)

    def drill(self, shipped_at: ShippedAt | None) -> DrillPart:
        return PgDrill(self, shipped_at)

    def shipper(self, env: str) -> PgWalShipper:
        return PgWalShipper(self, env)

    def reconcile(self, env: str) -> list[str]:
        return self.copies.reconcile(env)  # a copy, verify or drill of env that was killed


class ExternalPostgresEngine(PgDumps, EngineDefaults):
    name = "external postgres"
    point_in_time = False
    into_other_environments = False

    def window(self, record: BackupRecord) -> tuple[float, float]:
        start = record.recoverable_from or record.finished_at
        return start, record.recoverable_to or start  # a dump restores the moment it was taken

    def refuse_point_in_time(self, env: str) -> None:
        raise BackupError(
            f"{env}'s database is an external server, backed up with pg_dump: each backup restores "
            "the moment it was taken, not a point in time",
            "restore the dump taken nearest that time with --backup ID (`shipyard backup list`)",
        )

    def refuse_other_environment(self, env: str, source: str, target: str) -> None:
        raise BackupError(
            f"cannot restore {source}'s backups into {target}: {env}'s database is an external "
            "server, and restores into another environment are for managed PostgreSQL clusters only",
            f"restore into {source} itself, or give both `managed: true`",
        )

    def masker(self) -> PgMasker:
        return PgMasker(self.pg)

    def drill(self, shipped_at: ShippedAt | None) -> DrillPart:
        return DumpDrill(self)

    def shipper(self, env: str) -> None:
        return None  # no WAL to ship: the manifest refuses `continuous` with a url
