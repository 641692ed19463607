"""The data engine's decisions against fakes of its drivers (``tests/unit/fakes.py``), in
milliseconds: what a backup does when the storage refuses a write, how a managed cluster is
made all or nothing, and what an external server's backup and restore ask of its dump tools."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.fakes import FakeDumps, FakePostgres, FakeStorage, fake_data_drivers
from tests.unit.test_backup_service import live_db, make_ctx

from shipyard.engine.context import Context
from shipyard.engine.data.backups import BackupService
from shipyard.engine.data.postgres.managed import ManagedPostgres
from shipyard.errors import BackupError, DatabaseError

EXTERNAL = {"engine": "postgres", "url": "postgresql://app:s3cret@db.internal:5432/app"}


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Context:
    monkeypatch.delenv("SHIPYARD_BACKUP_KEY", raising=False)
    return make_ctx(tmp_path)


def backups_of(storage: FakeStorage) -> set[str]:
    return {name for name in storage.objects if "/b-" in name}


def test_a_refused_manifest_write_fails_the_backup_and_deletes_what_it_stored(ctx: Context) -> None:
    live_db(ctx)
    storage = FakeStorage()
    service = BackupService(ctx, fake_data_drivers(storage))
    good = service.create("dev")
    kept = backups_of(storage)
    storage.refuse = "manifest.json"  # the data object goes in, its manifest does not
    with pytest.raises(BackupError, match=r"manifest\.json was not stored"):
        service.create("dev")
    assert backups_of(storage) == kept  # the failed backup's data object is gone, the good one whole
    statuses = {r.id: (r.status, r.error or "") for r in service.catalog("dev").records}
    assert statuses.pop(good.id) == ("complete", "")
    ((status, error),) = statuses.values()  # the attempt is catalogued as failed, with its cause
    assert status == "failed" and "manifest.json was not stored" in error


def test_a_refused_catalog_write_leaves_the_storage_as_it_was(ctx: Context) -> None:
    live_db(ctx)
    storage = FakeStorage()
    service = BackupService(ctx, fake_data_drivers(storage))
    good = service.create("dev")
    before = dict(storage.objects)
    storage.refuse = "catalog.json"
    with pytest.raises(BackupError, match=r"catalog\.json was not stored"):
        service.create("dev")
    assert storage.objects == before  # data and manifest deleted again; the catalog untouched
    assert [r.id for r in service.catalog("dev").records] == [good.id]


def test_a_managed_cluster_is_made_all_or_nothing_and_started_when_down(tmp_path: Path) -> None:
    pg = FakePostgres()
    clusters = ManagedPostgres(make_ctx(tmp_path, {"engine": "postgres", "managed": True}), pg)
    pg.fail["CREATE DATABASE"] = DatabaseError("psql failed (exit 1): disk full", "see the log")
    with pytest.raises(DatabaseError, match="disk full"):
        clusters.ensure("dev")
    assert not clusters.folder("dev").exists()  # the half-made cluster is stopped and removed
    assert pg.running_on == set() and clusters.cluster("dev") is None
    del pg.fail["CREATE DATABASE"]

    cluster, said = clusters.ensure("dev")
    assert said == f"PostgreSQL on 127.0.0.1:{cluster.port} created, running"
    assert pg.statements[-2:] == [
        f"CREATE ROLE app LOGIN PASSWORD '{cluster.app_password}'",
        "CREATE DATABASE app OWNER app",
    ]
    assert clusters.ensure("dev")[1] == f"PostgreSQL on 127.0.0.1:{cluster.port} running"
    pg.stop(clusters.pgdata("dev"))  # the server died meanwhile
    assert clusters.ensure("dev")[1] == f"PostgreSQL on 127.0.0.1:{cluster.port} started"
    assert pg.created == [clusters.pgdata("dev")] * 2  # made again once, then only started
    assert clusters.cluster("dev") == cluster


def test_an_external_servers_dump_keeps_the_password_off_the_url_and_restores_after_a_safety_dump(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHIPYARD_BACKUP_KEY", raising=False)
    dumps = FakeDumps(b"PGDMP the first dump")
    service = BackupService(make_ctx(tmp_path, EXTERNAL), fake_data_drivers(dumps=dumps))
    record = service.create("dev")
    assert dumps.calls == [("pg_dump", "postgresql://app@db.internal:5432/app", "s3cret")]
    assert [o.role for o in record.objects] == ["dump"]

    dumps.archive = b"PGDMP the server now"
    done = service.restore("dev", "tester", record.id)
    assert [call for call, _, _ in dumps.calls[1:]] == ["pg_restore --list", "pg_dump", "pg_restore"]
    assert dumps.restored == [b"PGDMP the first dump"]  # through zstd and AES-GCM and back
    assert done["restored"] == record.id and done["safety_backup"] not in (None, record.id)


def test_a_failed_pg_dump_is_catalogued_as_failed_and_stores_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHIPYARD_BACKUP_KEY", raising=False)
    storage, dumps = FakeStorage(), FakeDumps()
    service = BackupService(make_ctx(tmp_path, EXTERNAL), fake_data_drivers(storage, dumps=dumps))
    dumps.fail = DatabaseError("backup of dev: pg_dump failed (exit 1): connection refused", "is it up?")
    with pytest.raises(DatabaseError, match="connection refused"):
        service.create("dev")
    assert backups_of(storage) == set()
    (failed,) = service.catalog("dev").records
    assert failed.status == "failed" and "connection refused" in (failed.error or "")
