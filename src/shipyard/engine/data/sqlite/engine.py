"""The SQLite engine behind ``DatabaseEngine`` (``engine/data/engines.py``).

Online snapshots, verify and restore (``engine/data/sqlite/backups.py``), a point in time from
a continuous backup's WAL segments (``engine/data/sqlite/pitr.py``, shipped by
``engine/data/sqlite/continuous.py``), masking of the scratch file (``engine/data/sqlite/mask.py``)
and drills (``engine/data/sqlite/drill.py``). Chosen by ``engine/data/registry.py``.
"""

from __future__ import annotations

from typing import Any

from shipyard.core.backups import BackupRecord
from shipyard.engine.data.engines import DrillPart, ShippedAt
from shipyard.engine.data.sqlite.backups import SqliteBackups
from shipyard.engine.data.sqlite.continuous import WalShipper
from shipyard.engine.data.sqlite.drill import SqliteDrill
from shipyard.engine.data.sqlite.mask import SqliteMasker
from shipyard.engine.data.sqlite.pitr import recoverable_range
from shipyard.engine.data.store import BackupStore, PrepareFn, StepFn


class SqliteEngine:
    name = "sqlite"
    point_in_time = True
    into_other_environments = True

    def __init__(self, store: BackupStore) -> None:
        self.store = store
        self.parts = SqliteBackups(store)

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
        return self.parts.restore_locked(record, target, step, to_time, prepare)

    def window(self, record: BackupRecord) -> tuple[float, float]:
        return recoverable_range(self.store.storage(record.env), self.store.key(), record)

    def refuse_point_in_time(self, env: str) -> None:
        return None  # a snapshot restores its moment; a continuous backup any moment of its window

    def refuse_other_environment(self, env: str, source: str, target: str) -> None:
        return None

    def masker(self) -> SqliteMasker:
        return SqliteMasker()

    def drill(self, shipped_at: ShippedAt | None) -> DrillPart:
        return SqliteDrill(self.parts, shipped_at)

    def shipper(self, env: str) -> WalShipper:
        return WalShipper(self.store, env)

    def reconcile(self, env: str) -> list[str]:
        return []  # a killed job's scratch files go with <home>/tmp

    def sweep(self) -> list[str]:
        return []
