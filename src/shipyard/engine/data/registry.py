"""Picks the ``DatabaseEngine`` of an environment or a backup: the one place that tells engines apart.

``DatabaseEngines`` builds each implementation once over the shared ``BackupStore`` and the
data drivers the composition root chose (``DataDrivers``: PostgreSQL's programs, its dump
tools), the managed PostgreSQL engine with the one ``ManagedPostgres`` of this control plane
(``clusters``, also what starts and stops the clusters, and what ``AppDatabases`` reaches
them through: ``runtime.py`` hands it over). ``for_env`` reads the manifest's
database spec (SQLite, ``managed: true`` or an external ``url``); ``for_record`` reads what a
backup is (a dump is an external server's, another PostgreSQL backup a managed cluster's), so
a backup is restored and verified by the engine that took it. Built by ``BackupService``.
"""

from __future__ import annotations

from shipyard.core.backups import BackupRecord
from shipyard.core.database import is_external
from shipyard.drivers.data.interface import DataDrivers
from shipyard.engine.data.engines import DatabaseEngine
from shipyard.engine.data.postgres.dumps import is_dump
from shipyard.engine.data.postgres.engine import ExternalPostgresEngine, ManagedPostgresEngine
from shipyard.engine.data.postgres.managed import ManagedPostgres
from shipyard.engine.data.sqlite.engine import SqliteEngine
from shipyard.engine.data.store import BackupStore


class DatabaseEngines:
    def __init__(self, store: BackupStore, drivers: DataDrivers) -> None:
        self.store = store
        self.clusters = ManagedPostgres(store.ctx, drivers.postgres)
        self.sqlite: DatabaseEngine = SqliteEngine(store)
        self.managed = ManagedPostgresEngine(store, self.clusters)
        self.external: DatabaseEngine = ExternalPostgresEngine(store, drivers.postgres, drivers.dumps)

    @property
    def all(self) -> tuple[DatabaseEngine, ...]:
        return (self.sqlite, self.managed, self.external)

    def for_env(self, env: str) -> DatabaseEngine:
        """The engine of ``env``'s database as shipyard.yaml declares it now."""
        db = self.store.ctx.manifest.database_for(env)
        if is_external(db):
            return self.external
        return self.managed if db.engine == "postgres" else self.sqlite

    def for_record(self, record: BackupRecord) -> DatabaseEngine:
        """The engine that took ``record`` (and so restores and verifies it)."""
        if is_dump(record):
            return self.external
        return self.managed if record.engine == "postgres" else self.sqlite

    def sweep(self) -> list[str]:
        """At control-plane start: every engine's stray scratch servers stopped."""
        return [line for engine in self.all for line in engine.sweep()]
