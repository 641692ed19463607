"""The interface every database engine implements: ``DatabaseEngine``, and the parts it hands out.

Shipyard backs up and restores three kinds of database: a SQLite file
(``engine/data/sqlite/engine.py``), a managed PostgreSQL cluster and an external PostgreSQL
server (``engine/data/postgres/engine.py``). They differ in how a backup is taken, checked,
restored, masked and drilled, and in whether WAL is shipped continuously; what they share
(catalog, storage, the way a backup is written) is ``engine/data/store.py``. An engine that
cannot do something says so here, by a capability and a ``refuse_*`` method that raises the
user's error with its hint, never by a test of the engine's name in its callers.
``engine/data/registry.py`` picks the implementation once; ``BackupService``, drills, masked
copies and the scheduler call through this interface.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from shipyard.core.backups import BackupRecord
from shipyard.core.drill import Recovered
from shipyard.core.masking import Column, MaskPlan
from shipyard.drivers.loops import Loop
from shipyard.engine.data.store import RestoreTo

U = TypeVar("U")  # the unit an engine masks: a file (SQLite), a connection (PostgreSQL)
ShippedAt = Callable[[str], float | None]  # env -> when its running WAL shipper last shipped


class Masker(Protocol[U]):
    """What an engine provides to mask a scratch copy ``U``: a file for SQLite, the scratch
    cluster's connection for PostgreSQL. ``work`` is the job's private scratch folder."""

    def schema(self, copy: U) -> dict[str, tuple[Column, ...]]: ...

    def apply(self, copy: U, plan: MaskPlan, key: bytes, work: Path) -> int: ...

    def finish(self, copy: U, work: Path) -> U: ...


class WalShipping(Protocol):
    """A continuous WAL shipper (``engine/data/shipper.py``'s loop), as the scheduler and the
    API see it: what it shipped last, its base backup, its last errors."""

    base_id: str | None
    last_shipped_at: float | None
    loop: Loop

    @property
    def errors(self) -> list[str]: ...

    def start(self) -> None: ...

    def stop(self, final: bool = True) -> None: ...


class DrillPart(Protocol):
    """One drill of one environment, as its engine runs it (``engine/data/drill.py`` drives it)."""

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


class DatabaseEngine(Protocol):
    """One kind of database, as backups, restores, drills and masked copies see it."""

    name: str  # how errors and the contract test name it
    point_in_time: bool  # restores to any moment of a continuous backup's window
    into_other_environments: bool  # restores (masked copies) into another environment

    def create(self, env: str, kind: str, reason: str, **fields: Any) -> BackupRecord:
        """Copy ``env``'s live database into the storage and catalog it (caller holds the lock)."""
        ...

    def verify(self, record: BackupRecord) -> BackupRecord:
        """Restore ``record`` into scratch, check it and the verify queries; the record as kept."""
        ...

    def restore_locked(self, record: BackupRecord, to: RestoreTo) -> dict[str, Any]:
        """``record`` (as of ``to.to_time``) becomes ``to.target``'s database, each part a step
        recorded by ``to.step``; a broken target database is kept aside; the caller holds the
        deploy lock."""
        ...

    def window(self, record: BackupRecord) -> tuple[float, float]:
        """The span of time ``record`` can restore (a continuous one's grows as WAL ships)."""
        ...

    def refuse_point_in_time(self, env: str) -> None:
        """Raise the user's error if ``env``'s backups cannot restore a point in time."""
        ...

    def refuse_other_environment(self, env: str, source: str, target: str) -> None:
        """Raise the user's error if ``env`` cannot be the source or target of a restore
        from ``source`` into another environment ``target``."""
        ...

    def masker(self) -> Masker[Any]:
        """How this engine masks the scratch copy a restore fetched."""
        ...

    def drill(self, shipped_at: ShippedAt | None) -> DrillPart:
        """A drill's engine-specific part (a new one for each drill)."""
        ...

    def shipper(self, env: str) -> WalShipping | None:
        """A continuous WAL shipper for ``env``, not started; None if the engine has none."""
        ...

    def reconcile(self, env: str) -> list[str]:
        """At control-plane start: clean up what a killed job of ``env`` left (scratch copies)."""
        ...

    def sweep(self) -> list[str]:
        """At control-plane start, once for all environments: stop stray scratch servers."""
        ...


class EngineDefaults:
    """What an engine does unless it says otherwise: it can restore a point in time and into
    another environment, and leaves nothing behind to clean up at start."""

    point_in_time = True
    into_other_environments = True

    def refuse_point_in_time(self, env: str) -> None:
        return None

    def refuse_other_environment(self, env: str, source: str, target: str) -> None:
        return None

    def reconcile(self, env: str) -> list[str]:
        return []

    def sweep(self) -> list[str]:
        return []
