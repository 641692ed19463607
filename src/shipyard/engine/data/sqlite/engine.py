"""The SQLite engine behind ``DatabaseEngine`` (``engine/data/engines.py``).

Online snapshots, verify and restore are ``SqliteBackups``'s (``engine/data/sqlite/backups.py``);
a point in time comes from a continuous backup's WAL segments (``engine/data/sqlite/pitr.py``,
shipped by ``engine/data/sqlite/continuous.py``); the scratch file is masked by
``engine/data/sqlite/mask.py`` and drilled by ``engine/data/sqlite/drill.py``. Chosen by
``engine/data/registry.py``.
"""

from __future__ import annotations

from shipyard.core.backups import BackupRecord
from shipyard.engine.data.engines import DrillPart, EngineDefaults, ShippedAt
from shipyard.engine.data.sqlite.backups import SqliteBackups
from shipyard.engine.data.sqlite.continuous import WalShipper
from shipyard.engine.data.sqlite.drill import SqliteDrill
from shipyard.engine.data.sqlite.mask import SqliteMasker
from shipyard.engine.data.sqlite.pitr import recoverable_range


class SqliteEngine(SqliteBackups, EngineDefaults):
    name = "sqlite"

    def window(self, record: BackupRecord) -> tuple[float, float]:
        return recoverable_range(self.service.storage(record.env), self.service.key(), record)

    def masker(self) -> SqliteMasker:
        return SqliteMasker()

    def drill(self, shipped_at: ShippedAt | None) -> DrillPart:
        return SqliteDrill(self, shipped_at)

    def shipper(self, env: str) -> WalShipper:
        return WalShipper(self.service, env)
