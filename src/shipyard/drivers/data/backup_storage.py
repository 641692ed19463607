"""Where backups are stored: a small object interface and its local-folder implementation.

Objects have names like ``production/b-20261201T120000Z-1a2b/db.zst.enc`` (letters,
digits, ``.``, ``_``, ``-``, ``/``). The interface is what an object store (S3, GCS...)
would implement, as litestream's ``ReplicaClient``; every implementation must pass the
contract suite in ``tests/unit/backup_storage_contract.py``:

- ``put`` stores an object from a stream of chunks, all or nothing: a failure part way
  (disk full, a broken connection) leaves any earlier object of that name as it was;
- ``get`` opens an object for reading (``NotFoundError`` if it does not exist);
- ``list`` returns the objects under a prefix, sorted by name, with their sizes;
- ``delete`` removes an object (no error if it is already gone).

Called by the backup pipeline and the catalog in ``engine/data/backups.py``.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from shipyard.errors import BackupError, NotFoundError

OBJECT_NAME = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")


@dataclass(frozen=True)
class StoredObject:
    name: str
    size: int


class BackupStorage(Protocol):
    """The operations every backup target provides."""

    @property
    def where(self) -> str:
        """A human description of the target, for messages."""
        ...

    def put(self, name: str, chunks: Iterable[bytes]) -> int:
        """Store ``chunks`` as object ``name`` atomically; return its size in bytes."""
        ...

    def get(self, name: str) -> BinaryIO:
        """Open object ``name`` for reading; the caller closes it."""
        ...

    def list(self, prefix: str = "") -> list[StoredObject]:
        """Objects whose names start with ``prefix``, sorted by name."""
        ...

    def delete(self, name: str) -> None:
        """Remove object ``name`` if it exists."""
        ...


def check_name(name: str) -> str:
    if not OBJECT_NAME.match(name) or any(part in (".", "..") for part in name.split("/")):
        raise ValueError(f"invalid backup object name {name!r}")
    return name


class LocalFolderStorage:
    """Objects as files under one folder, written temp-then-rename with fsync."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def where(self) -> str:
        return str(self.root)

    def _path(self, name: str) -> Path:
        return self.root / check_name(name)

    def put(self, name: str, chunks: Iterable[bytes]) -> int:
        path = self._path(name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        except OSError as exc:
            raise _storage_error(self, name, exc) from None
        size = 0
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
                    size += len(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise _storage_error(self, name, exc) from None
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return size

    def get(self, name: str) -> BinaryIO:
        try:
            return open(self._path(name), "rb")
        except FileNotFoundError:
            raise NotFoundError(
                f"backup object {name} is missing from {self.root}",
                "the backup folder lost files: restore another backup (`shipyard backup list`)",
            ) from None

    def list(self, prefix: str = "") -> list[StoredObject]:
        if not self.root.is_dir():
            return []
        found = []
        for path in self.root.rglob("*"):
            if not path.is_file() or path.name.startswith("."):
                continue
            name = path.relative_to(self.root).as_posix()
            if name.startswith(prefix):
                found.append(StoredObject(name, path.stat().st_size))
        return sorted(found, key=lambda o: o.name)

    def delete(self, name: str) -> None:
        path = self._path(name)
        path.unlink(missing_ok=True)
        parent = path.parent
        while parent != self.root and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _storage_error(storage: LocalFolderStorage, name: str, exc: OSError) -> BackupError:
    if exc.errno == errno.ENOSPC:
        return BackupError(
            f"the backup folder {storage.root} is full: {name} was not stored",
            "free space there or point database.backups.folder at a larger disk; "
            "earlier backups are untouched",
        )
    return BackupError(
        f"could not write {name} to the backup folder {storage.root}: {exc.strerror or exc}",
        "check that the folder exists and the Shipyard user may write to it",
    )
