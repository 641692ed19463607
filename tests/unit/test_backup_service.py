"""The backup service on real SQLite files and a real folder (no control plane needed).

Covers online copies under writes, a disk that fills up during a backup, a lost catalog,
retention deleting stored objects, and scheduled runs.
"""

from __future__ import annotations

import errno
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from tests.unit.wiring import backup_service

from shipyard.core.records import Owner
from shipyard.drivers.data.backup_storage import LocalFolderStorage
from shipyard.engine.context import Context
from shipyard.engine.data.schedule import BackupScheduler
from shipyard.errors import BackupError
from shipyard.home import Paths
from shipyard.manifest.loader import parse_manifest
from shipyard.state.store import open_store


class FullDisk(LocalFolderStorage):
    """A folder that refuses writes once ``budget`` bytes have been written (ENOSPC)."""

    def __init__(self, root: Path, budget: list[int]) -> None:
        super().__init__(root)
        self.budget = budget

    def put(self, name: str, chunks: Iterable[bytes]) -> int:
        def metered() -> Iterator[bytes]:
            for chunk in chunks:
                self.budget[0] -= len(chunk)
                if self.budget[0] < 0:
                    raise OSError(errno.ENOSPC, "No space left on device")
                yield chunk

        return super().put(name, metered())


def make_ctx(tmp_path: Path, database: dict[str, Any] | None = None) -> Context:
    manifest = parse_manifest(
        {
            "app": "notes",
            "processes": {"web": {"command": "true"}},
            "database": database or {"file": "notes.db"},
            "environments": {"dev": {"port": 18080}},
        }
    )
    home = tmp_path / "home"
    home.mkdir()
    none = cast(Any, None)
    return Context(
        paths=Paths(home, tmp_path),
        store=open_store(home / "state.db"),
        proxy=none,
        runtime=none,
        builder=none,
        prober=none,
        owner=Owner(1, 0.0),
        manifest=manifest,
        manifest_text="",
    )


def live_db(ctx: Context, rows: int = 100) -> Path:
    path = ctx.paths.env_data("dev").resolve() / "notes.db"
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        conn.executemany("INSERT INTO notes (text) VALUES (?)", [(f"note {i}",) for i in range(rows)])
    return path


def count(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM notes").fetchone()[0])


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Context:
    monkeypatch.delenv("SHIPYARD_BACKUP_KEY", raising=False)
    return make_ctx(tmp_path)


def test_online_copy_while_writing_is_consistent(ctx: Context) -> None:
    path = live_db(ctx)
    stop = threading.Event()

    def write() -> None:
        conn = sqlite3.connect(path, timeout=10)
        while not stop.is_set():
            with conn:
                conn.execute("INSERT INTO notes (text) VALUES ('more')")
        conn.close()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        time.sleep(0.05)
        service = backup_service(ctx)
        record = service.create("dev")
    finally:
        stop.set()
        writer.join()
    checked = service.verify("dev", record.id)
    assert checked.verification is not None and checked.verification.ok, checked.verification
    assert record.objects[0].plain_sha256 and record.checksum == record.objects[0].stored_sha256
    assert count(path) > 100  # the writer went on during the copy

    # restore into the live file: the content is the backup's, and it is whole
    restored = service.restore("dev", "tester", record.id)
    assert restored["safety_backup"] is not None
    assert count(path) >= 100
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_disk_full_during_a_backup_keeps_the_good_one(ctx: Context) -> None:
    live_db(ctx, rows=20_000)
    budget = [10**9]
    service = backup_service(ctx, storage_for=lambda root: FullDisk(root, budget))
    good = service.create("dev")
    before = service.storage("dev").list()
    budget[0] = 1000  # the disk fills during the next backup's data
    with pytest.raises(BackupError) as info:
        service.create("dev")
    assert "is full" in info.value.message
    assert service.storage("dev").list() == before  # nothing half-written left, nothing replaced
    assert [r.id for r in service.catalog("dev").records] == [good.id]
    budget[0] = 10**9
    assert service.verify("dev", good.id).verification.ok  # type: ignore[union-attr]


def test_failed_backup_is_recorded_when_the_catalog_can_be_written(ctx: Context) -> None:
    service = backup_service(ctx)
    with pytest.raises(BackupError, match="does not exist yet"):
        service.create("dev")  # nothing deployed: no database
    (failed,) = service.catalog("dev").records
    assert failed.status == "failed" and "does not exist yet" in failed.error
    assert not failed.good
    with pytest.raises(BackupError, match="no complete backup"):
        service.catalog("dev").find(None)


def test_lost_catalog_is_rebuilt_from_the_backups_manifests(ctx: Context) -> None:
    live_db(ctx)
    service = backup_service(ctx)
    first = service.create("dev")
    folder = ctx.paths.home.resolve() / "backups" / "dev"
    (folder / "catalog.json").unlink()
    assert [r.id for r in service.catalog("dev").records] == [first.id]
    (folder / "catalog.json").write_text("{not json")
    with pytest.raises(BackupError, match=r"catalog .* is unreadable"):
        service.catalog("dev")


def test_retention_deletes_the_objects_of_dropped_backups(ctx: Context) -> None:
    live_db(ctx)
    service = backup_service(ctx)
    old = service.create("dev", "scheduled")
    new = service.create("dev", "scheduled")  # retention follows: in the same hour, the newest is kept
    assert [r.id for r in service.catalog("dev").records] == [new.id]
    assert service.apply_retention("dev").delete == ()
    names = [o.name for o in service.storage("dev").list()]
    assert not any(old.id in n for n in names) and any(new.id in n for n in names)


def test_wrong_key_is_reported_by_verify(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    live_db(ctx)
    service = backup_service(ctx)
    record = service.create("dev")
    monkeypatch.setenv("SHIPYARD_BACKUP_KEY", "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ=")
    checked = service.verify("dev", record.id)
    assert checked.verification is not None and not checked.verification.ok
    assert "encrypted with backup key" in checked.verification.detail
    assert not service.catalog("dev").records[-1].good


def test_scheduler_runs_what_is_due_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHIPYARD_BACKUP_KEY", raising=False)
    verify_hour = (time.localtime().tm_hour + 12) % 24  # never within the three hours looked back on
    ctx = make_ctx(
        tmp_path,
        {
            "file": "notes.db",
            "backups": {"schedule": "0 * * * *", "verify_schedule": f"30 {verify_hour} * * *"},
        },
    )
    live_db(ctx)
    scheduler = BackupScheduler(backup_service(ctx))
    scheduler.since = time.time() - 3 * 3600  # started three hours ago, nothing ran since
    assert scheduler.run_once(time.time()) == ["dev:backup"]
    assert scheduler.run_once(time.time()) == []  # done for this hour
    assert scheduler.errors == []
    (record,) = backup_service(ctx).catalog("dev").records
    assert record.kind == "scheduled"
    assert scheduler.run_once(time.time() + 86400) == ["dev:backup", "dev:verify"]


def test_a_crash_mid_backup_converges_at_the_next_start(ctx: Context) -> None:
    live_db(ctx)
    service = backup_service(ctx)
    service.create("dev")
    finished = service.create("dev", "pre-migrate")
    before = {r.id for r in service.catalog("dev").records}
    storage = service.storage("dev")
    # killed after the manifest, before the catalog: drop its entry again
    service._save("dev", service.catalog("dev").without({finished.id}))
    # killed while storing the data: an object with no manifest
    storage.put("dev/b-20260101T000000Z-abcdef/db.sqlite.zst.enc", [b"half"])
    done = service.reconcile("dev")
    assert sorted(done) == sorted(
        [
            f"dev: catalogued {finished.id} (its catalog entry was missing)",
            "dev: deleted the half-written backup b-20260101T000000Z-abcdef",
        ]
    )
    assert {r.id for r in service.catalog("dev").records} == before
    assert not [o for o in storage.list() if "abcdef" in o.name]
    assert service.reconcile("dev") == []
