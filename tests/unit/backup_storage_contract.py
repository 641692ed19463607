"""The contract every backup storage backend must meet (as litestream's ReplicaClient suite).

A backend's test module subclasses ``StorageContract`` and provides the ``storage`` fixture;
pytest then runs every test below against it. ``tests/unit/test_backup_storage.py`` runs it
on the local folder; an object-store backend would add its own subclass.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shipyard.drivers.data.backup_storage import BackupStorage
from shipyard.errors import NotFoundError


class Boom(Exception):
    pass


def failing_after(chunks: int) -> Iterator[bytes]:
    for _ in range(chunks):
        yield b"x" * 1000
    raise Boom("the source broke part way")


class StorageContract:
    @pytest.fixture
    def storage(self) -> BackupStorage:
        raise NotImplementedError

    def test_put_then_get_returns_the_same_bytes(self, storage: BackupStorage) -> None:
        size = storage.put("dev/b-1/data", [b"hello ", b"", b"world"])
        assert size == 11
        with storage.get("dev/b-1/data") as fh:
            assert fh.read() == b"hello world"

    def test_put_replaces_an_object_whole(self, storage: BackupStorage) -> None:
        storage.put("dev/catalog.json", [b"old" * 1000])
        storage.put("dev/catalog.json", [b"new"])
        with storage.get("dev/catalog.json") as fh:
            assert fh.read() == b"new"

    def test_failed_put_leaves_the_earlier_object(self, storage: BackupStorage) -> None:
        storage.put("dev/catalog.json", [b"good"])
        with pytest.raises(Boom):
            storage.put("dev/catalog.json", failing_after(3))
        with storage.get("dev/catalog.json") as fh:
            assert fh.read() == b"good"
        assert [o.name for o in storage.list()] == ["dev/catalog.json"]  # no partial object left

    def test_failed_put_of_a_new_object_leaves_nothing(self, storage: BackupStorage) -> None:
        with pytest.raises(Boom):
            storage.put("dev/b-2/data", failing_after(2))
        assert storage.list() == []
        with pytest.raises(NotFoundError):
            storage.get("dev/b-2/data")

    def test_list_is_sorted_filtered_by_prefix_with_sizes(self, storage: BackupStorage) -> None:
        for name in ("prod/b-2/x", "dev/b-1/y", "dev/b-1/x", "dev/catalog.json"):
            storage.put(name, [name.encode()])
        assert [(o.name, o.size) for o in storage.list("dev/")] == [
            ("dev/b-1/x", 9),
            ("dev/b-1/y", 9),
            ("dev/catalog.json", 16),
        ]
        assert [o.name for o in storage.list("prod/")] == ["prod/b-2/x"]
        assert storage.list("staging/") == []

    def test_delete_removes_and_is_idempotent(self, storage: BackupStorage) -> None:
        storage.put("dev/b-1/x", [b"1"])
        storage.put("dev/b-2/x", [b"2"])
        storage.delete("dev/b-1/x")
        storage.delete("dev/b-1/x")
        assert [o.name for o in storage.list()] == ["dev/b-2/x"]
        with pytest.raises(NotFoundError):
            storage.get("dev/b-1/x")

    def test_get_of_a_missing_object_names_it(self, storage: BackupStorage) -> None:
        with pytest.raises(NotFoundError) as info:
            storage.get("dev/b-9/x")
        assert "dev/b-9/x" in info.value.message and info.value.hint

    @pytest.mark.parametrize("name", ["../x", "dev/../../x", "/abs", "dev//x", "dev/x y", ""])
    def test_names_cannot_escape(self, storage: BackupStorage, name: str) -> None:
        with pytest.raises(ValueError):
            storage.put(name, [b"x"])

    def test_large_object_streams(self, storage: BackupStorage) -> None:
        block = bytes(range(256)) * 4096  # 1 MiB
        assert storage.put("dev/big", (block for _ in range(8))) == 8 * len(block)
        with storage.get("dev/big") as fh:
            total = 0
            while chunk := fh.read(300_000):
                total += len(chunk)
        assert total == 8 * len(block)
