"""Where an environment's database is and how the app reaches it. Pure.

SQLite lives in the environment's data folder (``SHIPYARD_DATA_DIR``), its URL in the
SQLAlchemy form ``sqlite:////absolute/path``. A managed PostgreSQL's URL comes from its
cluster (``engine/data/postgres/managed.py``); an external server's is its ``url``, whose ``#{NAME}#``
tokens are resolved from configuration and the vault when it is used (``core/dburl.py``),
and which Shipyard backs up with ``pg_dump`` (``engine/data/postgres/dumps.py``). Called by the engine
when it starts instances and runs migrations, and by the backup service.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

DEFAULT_FILE = "app.db"


class Database(Protocol):
    """An environment's ``database`` (``manifest/database.py``), as these functions read it."""

    @property
    def engine(self) -> str:
        """``sqlite`` or ``postgres``."""

    @property
    def file(self) -> str | None:
        """SQLite's file in the data folder; None for ``DEFAULT_FILE``."""

    @property
    def url(self) -> str | None:
        """An external PostgreSQL server's URL template."""

    @property
    def managed(self) -> bool: ...


def sqlite_path(db: Database, data_dir: Path) -> Path:
    """The SQLite file of an environment whose data folder is ``data_dir``."""
    return data_dir / (db.file or DEFAULT_FILE)


def database_url(db: Database, data_dir: Path) -> str:
    """``DATABASE_URL`` as the app receives it."""
    if db.engine == "sqlite":
        return "sqlite:///" + str(sqlite_path(db, data_dir.resolve()))
    if db.url is not None:
        return db.url  # the template: engine/data/database.py resolves its tokens
    raise ValueError("a managed PostgreSQL has no URL before its cluster exists")


def is_external(db: Database) -> bool:
    """A PostgreSQL server Shipyard does not run, given by ``url`` (backed up with pg_dump)."""
    return db.engine == "postgres" and not db.managed
