"""The two PostgreSQL engines behind ``DatabaseEngine`` (``engine/data/engines.py``).

``ManagedPostgresEngine``: a cluster Shipyard runs (``engine/data/postgres/managed.py``, the one
``ManagedPostgres`` the registry holds): base backups and continuous WAL
(``engine/data/postgres/backups.py``, ``continuous.py``), restores in place (``restores.py``) or
into another environment's cluster (``copies.py``), masking of the scratch cluster
(``mask.py``) and drills (``drill.py``). ``ExternalPostgresEngine``: a server given by
``url``, reached only as a client: dumps (``dumps.py``), dump drills (``dump_drill.py``), no
point in time and no restore into another environment. Chosen by ``engine/data/registry.py``.
"""

from __future__ import annotations

from typing import Any

from shipyard.core.backups import BackupRecord
from shipyard.engine.data.engines import DrillPart, ShippedAt
from shipyard.engine.data.postgres.backups import PgBackups
from shipyard.engine.data.postgres.continuous import PgWalShipper
from shipyard.engine.data.postgres.copies import PgCopies
from shipyard.engine.data.postgres.drill import PgDrill
from shipyard.engine.data.postgres.dump_drill import DumpDrill
from shipyard.engine.data.postgres.dumps import PgDumps
from shipyard.engine.data.postgres.managed import ManagedPostgres
from shipyard.engine.data.postgres.mask import PgMasker
from shipyard.engine.data.postgres.restores import restore_in_place
from shipyard.engine.data.store import BackupStore, PrepareFn, StepFn
from shipyard.errors import BackupError


class ManagedPostgresEngine:
    name = "managed postgres"
    point_in_time = True
    into_other_environments = True

    def __init__(self, store: BackupStore, clusters: ManagedPostgres) -> None:
        self.clusters = clusters
        self.parts = PgBackups(store, clusters)
        self.copies = PgCopies(self.parts)

    def backup(self, env: str, kind: str, reason: str, **fields: Any) -> BackupRecord:
        return self.parts.create(env, kind, reason, **fields)

    def verify(self, record: BackupRecord) -> BackupRecord:
        return self.parts.verify(record)

    def restore_locked(
        self,
        record: BackupRecord,
        target: str,
        step: StepFn,
        to_time: float | None,
        prepare: PrepareFn | None,
    ) -> dict[str, Any]:
        if target != record.env:
            return self.copies.restore_locked(record, target, step, to_time, prepare)
        return restore_in_place(self.parts, record, target, step, to_time)

    def window(self, record: BackupRecord) -> tuple[float, float]:
        return self.parts.window(record)

    def refuse_point_in_time(self, env: str) -> None:
        return None

    def refuse_other_environment(self, env: str, source: str, target: str) -> None:
        return None

    def masker(self) -> PgMasker:
        return PgMasker(self.clusters.pg)

    def drill(self, shipped_at: ShippedAt | None) -> DrillPart:
        return PgDrill(self.parts, shipped_at)

    def shipper(self, env: str) -> PgWalShipper:
        return PgWalShipper(self.parts, env)

    def reconcile(self, env: str) -> list[str]:
        return self.copies.reconcile(env)  # a copy, verify or drill of env that was killed

    def sweep(self) -> list[str]:
        return []  # scratch clusters sit beside each environment's: reconcile removes them


class ExternalPostgresEngine:
    name = "external postgres"
    point_in_time = False
    into_other_environments = False

    def __init__(self, store: BackupStore) -> None:
        self.dumps = PgDumps(store)

    def backup(self, env: str, kind: str, reason: str, **fields: Any) -> BackupRecord:
        return self.dumps.create(env, kind, reason, **fields)

    def verify(self, record: BackupRecord) -> BackupRecord:
        return self.dumps.verify(record)

    def restore_locked(
        self,
        record: BackupRecord,
        target: str,
        step: StepFn,
        to_time: float | None,
        prepare: PrepareFn | None,
    ) -> dict[str, Any]:
        return self.dumps.restore_locked(record, target, step, to_time)

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
        return PgMasker(self.dumps.pg)

    def drill(self, shipped_at: ShippedAt | None) -> DrillPart:
        return DumpDrill(self.dumps)

    def shipper(self, env: str) -> None:
        return None  # no WAL to ship: the manifest refuses `continuous` with a url

    def reconcile(self, env: str) -> list[str]:
        return []

    def sweep(self) -> list[str]:
        return self.dumps.sweep()  # scratch clusters of a killed verify, under <home>/tmp
