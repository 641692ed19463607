"""The local-folder backup storage passes the storage contract; disk full is reported as such."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.unit.backup_storage_contract import StorageContract

from shipyard.drivers.data.backup_storage import BackupStorage, LocalFolderStorage
from shipyard.errors import BackupError


class TestLocalFolder(StorageContract):
    @pytest.fixture
    def storage(self, tmp_path: Path) -> BackupStorage:
        return LocalFolderStorage(tmp_path / "backups")


def test_disk_full_names_the_folder_and_keeps_the_old_object(tmp_path: Path) -> None:
    storage = LocalFolderStorage(tmp_path)
    storage.put("dev/catalog.json", [b"good"])

    def full() -> Iterator[bytes]:
        yield b"x"
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(BackupError) as info:
        storage.put("dev/catalog.json", full())
    assert "is full" in info.value.message and "earlier backups are untouched" in info.value.hint
    assert (tmp_path / "dev" / "catalog.json").read_bytes() == b"good"
    assert sorted(p.name for p in (tmp_path / "dev").iterdir()) == ["catalog.json"]


def test_objects_are_durable_files(tmp_path: Path) -> None:
    storage = LocalFolderStorage(tmp_path)
    storage.put("dev/b-1/db", [b"abc"])
    assert (tmp_path / "dev" / "b-1" / "db").read_bytes() == b"abc"
    storage.delete("dev/b-1/db")
    assert not (tmp_path / "dev").exists()  # empty folders go with their last object
