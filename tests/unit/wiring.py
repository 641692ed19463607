"""The backup service over the real data drivers, as the composition root wires it.

Tests that build a ``BackupService`` on their own context (a real SQLite file, a real
PostgreSQL) take it from ``backup_service`` rather than repeating the wiring: the drivers are
``shipyard.runtime.data_drivers``'s, the storage a local folder unless ``storage_for`` says
otherwise. A unit test that wants a fake driver builds ``DataDrivers`` itself
(``tests/unit/fakes.py``).
"""

from __future__ import annotations

from shipyard.drivers.data.interface import StorageFor
from shipyard.engine.context import Context
from shipyard.engine.data.backups import BackupService
from shipyard.runtime import data_drivers


def backup_service(ctx: Context, storage_for: StorageFor | None = None) -> BackupService:
    """``ctx``'s backup service, its drivers the real ones."""
    return BackupService(ctx, data_drivers(storage_for))
