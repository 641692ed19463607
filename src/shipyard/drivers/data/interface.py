"""The data-driver interfaces the engine depends on: PostgreSQL's programs, its dump tools, the
backup storage.

The engine's data capability (``engine/data/**``) types its dependencies by these Protocols and
never by the classes that implement them (``postgres.programs.Postgres``,
``postgres.dump.PgDump``, ``backup_storage.LocalFolderStorage``); only the composition root
(``shipyard.runtime``, ``data_drivers``) names those and hands them over in one
``DataDrivers`` record, so a unit test can give the backup service a fake for any of them.
``BackupStorage``'s contract (what ``put``, ``get``, ``list`` and ``delete`` promise) is
written in ``backup_storage.py``, beside its contract suite. The value types they answer with
or take (``Conn``, ``Server``, ``StoredObject``) are plain frozen records, shared as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol, TypeVar

from shipyard.drivers.data.backup_storage import BackupStorage, StoredObject
from shipyard.drivers.data.postgres.dump import Server
from shipyard.drivers.data.postgres.programs import Conn

__all__ = [
    "BackupStorage",
    "Conn",
    "DataDrivers",
    "DumpTools",
    "PostgresPrograms",
    "Server",
    "StorageFor",
    "StoredObject",
]

T = TypeVar("T")
StorageFor = Callable[[Path], BackupStorage]  # the backup folder (or bucket) -> its storage


class PostgresPrograms(Protocol):
    """PostgreSQL's server and client programs, run for Shipyard (``initdb``, ``pg_ctl``, ``psql``,
    ``pg_basebackup``, ``pg_verifybackup``, ``pg_amcheck``); each failure is a ``DatabaseError``."""

    def find_programs(self) -> Path:
        """The folder of the programs, looked for now: a ``DatabaseError`` naming where it looked
        and how to install them if they are missing."""

    def program(self, name: str) -> str:
        """The path of program ``name`` (``psql``, ``pg_receivewal``...)."""

    def run(
        self,
        argv: list[str],
        what: str,
        env: dict[str, str] | None = ...,
        as_server: bool = ...,
        timeout: float = ...,
        hint: str = ...,
    ) -> str:
        """Run ``argv`` (as the server's OS user if ``as_server``); its stdout."""

    def give_to_server(self, path: Path) -> None:
        """Make the server's OS user own ``path`` and everything under it."""

    def check_reachable(self, folder: Path) -> None:
        """Raise unless the server's OS user can pass through every folder down to ``folder``."""

    def create(self, pgdata: Path, superuser_password: str, settings: list[str], hba: str, log: Path) -> None:
        """A new cluster in ``pgdata`` with these settings and access rules, started."""

    def start(self, pgdata: Path, log: Path, timeout: float = ...) -> None:
        """Start the cluster of ``pgdata`` and wait until it accepts connections."""

    def stop(self, pgdata: Path, mode: str = ..., timeout: float = ...) -> None:
        """Stop the cluster of ``pgdata`` (``fast`` or ``immediate``) if it runs."""

    def running(self, pgdata: Path) -> bool:
        """Whether a server runs on ``pgdata``."""

    def sql(self, conn: Conn, statement: str, database: str | None = None) -> str:
        """Run ``statement`` through psql; its unaligned, tuples-only output."""

    def basebackup_argv(self, target: str) -> list[str]:
        """``pg_basebackup``'s command line for a tar-format base backup into ``target``."""

    def verifybackup(self, pgdata: Path, manifest: Path) -> str:
        """Check a restored base backup against its manifest."""

    def amcheck(self, conn: Conn) -> str:
        """Check every index and table of the cluster ``conn`` reaches."""


class DumpTools(Protocol):
    """``pg_dump``, ``pg_restore`` and ``psql`` against an external server (its password kept
    off every command line and out of every message)."""

    def dump(self, server: Server, consume: Callable[[IO[bytes]], T], what: str, timeout: float) -> T:
        """Run ``pg_dump -Fc`` and hand its output stream to ``consume``; its result."""

    def restore(self, server: Server, archive: Path, what: str, timeout: float = ...) -> None:
        """Replace the server's objects with the archive's, all or nothing."""

    def restore_local(self, conn: Conn, database: str, archive: Path, what: str) -> None:
        """Load the archive into ``database`` of a local scratch cluster."""

    def sql(self, server: Server, statement: str, what: str) -> str:
        """Run SQL on the server; the unaligned, tuples-only output."""

    def entries(self, archive: Path) -> int:
        """How many entries the archive's table of contents lists."""


@dataclass(frozen=True)
class DataDrivers:
    """The data capability's drivers, chosen once by the composition root (``BackupService``
    takes them): where backups are stored, and the PostgreSQL programs every engine runs."""

    storage_for: StorageFor
    postgres: PostgresPrograms
    dumps: DumpTools
