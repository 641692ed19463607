"""BackupService through the DatabaseEngine interface, with a fake engine standing in for SQLite.

The fake stores a small object through the shared store (``BackupStore.new_backup``/``commit``)
and records what the service asked of it, so these tests check the service's part: which
engine it picks (``DatabaseEngines.for_env``/``for_record``), that it calls the engine for
backup, verify, restore and windows, and that an engine's refusals (no point in time, no
restore into another environment) stop a restore before any deploy lock or job is taken.
"""

from __future__ import annotations

import io
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.unit.test_backup_service import make_ctx
from tests.unit.wiring import backup_service

from shipyard.core.backups import BackupRecord, ObjectEntry, Verification
from shipyard.drivers.data.backup_pipeline import store_stream
from shipyard.engine.data.backups import BackupService
from shipyard.engine.data.engines import DatabaseEngine, DrillPart, EngineDefaults, Masker, ShippedAt
from shipyard.engine.data.postgres.engine import ExternalPostgresEngine, ManagedPostgresEngine
from shipyard.engine.data.sqlite.engine import SqliteEngine
from shipyard.engine.data.store import BackupStore, RestoreTo
from shipyard.errors import BackupError
from shipyard.manifest.loader import parse_manifest


class FakeEngine(EngineDefaults):
    name = "fake"

    def __init__(self, store: BackupStore, refuse: str = "") -> None:
        self.store = store
        self.refuse = refuse
        self.calls: list[tuple[str, str]] = []
        self.restores: list[RestoreTo] = []

    def create(self, env: str, kind: str, reason: str, **fields: Any) -> BackupRecord:
        self.calls.append(("create", env))
        with self.store.new_backup(env, "sqlite", kind, reason) as new:
            stored = store_stream(new.storage, new.key, io.BytesIO(b"fake database"), new.name("fake.enc"))
            return self.store.commit(new, stored, "snapshot", **fields)

    def verify(self, record: BackupRecord) -> BackupRecord:
        self.calls.append(("verify", record.id))
        checked = Verification(time.time(), True, 0.0, "fake: ok", ())
        return self.store.update(record.env, record.id, verification=checked)

    def restore_locked(self, record: BackupRecord, to: RestoreTo) -> dict[str, Any]:
        self.restores.append(to)
        to.step("restore", lambda: (None, f"fake: {to.target} holds {record.id}"))
        return {"restored": record.id, "target": to.target, "safety_backup": None, "to_time": to.to_time}

    def window(self, record: BackupRecord) -> tuple[float, float]:
        return 100.0, 200.0

    def refuse_point_in_time(self, env: str) -> None:
        if self.refuse == "point in time":
            raise BackupError(f"{env}: the fake restores no point in time", "pick a backup")

    def refuse_other_environment(self, env: str, source: str, target: str) -> None:
        if self.refuse == "other environment":
            raise BackupError(f"{env}: the fake restores only into itself", f"restore into {source}")

    def masker(self) -> Masker[Any]:
        raise NotImplementedError

    def drill(self, shipped_at: ShippedAt | None) -> DrillPart:
        raise NotImplementedError

    def shipper(self, env: str) -> None:
        return None


def _service(tmp_path: Path, refuse: str = "") -> tuple[BackupService, FakeEngine]:
    ctx = make_ctx(tmp_path)
    ctx.manifest = _two_envs()
    service = backup_service(ctx)
    fake = FakeEngine(service, refuse)
    service.engines.sqlite = fake  # what the registry hands out for a SQLite environment
    return service, fake


def _two_envs() -> Any:
    return parse_manifest(
        {
            "app": "notes",
            "processes": {"web": {"command": "true"}},
            "database": {"file": "notes.db"},
            "environments": {"dev": {"port": 18080}, "staging": {"port": 18081}},
        }
    )


def test_an_engine_can_do_everything_and_leaves_nothing_unless_it_says_so(tmp_path: Path) -> None:
    _, fake = _service(tmp_path)
    engine: DatabaseEngine = fake  # EngineDefaults: what an engine that refuses nothing inherits
    assert engine.point_in_time and engine.into_other_environments
    assert engine.reconcile("dev") == [] and engine.sweep() == []


def test_backup_verify_and_restore_go_through_the_environments_engine(tmp_path: Path) -> None:
    service, fake = _service(tmp_path)
    record = service.create("dev")
    assert fake.calls == [("create", "dev")]
    assert service.catalog("dev").find(record.id).status == "complete"
    verified = service.verify("dev", record.id)
    assert fake.calls[-1] == ("verify", record.id) and verified.verification is not None
    assert verified.verification.ok
    done = service.restore("dev", "tester", record.id)
    assert [(to.target, to.to_time, to.prepare) for to in fake.restores] == [("dev", None, None)]
    assert done["restored"] == record.id and done["deployment"] > 0
    assert service.ctx.store.deployment(done["deployment"]).status == "succeeded"


def test_a_refused_point_in_time_stops_the_restore_before_any_job(tmp_path: Path) -> None:
    service, fake = _service(tmp_path, refuse="point in time")
    service.create("dev")
    with pytest.raises(BackupError, match="no point in time"):
        service.restore("dev", "tester", to_time=time.time())
    assert fake.restores == [] and service.ctx.store.deployments("dev") == []


def test_a_refused_restore_into_another_environment_touches_nothing(tmp_path: Path) -> None:
    service, fake = _service(tmp_path, refuse="other environment")
    record = service.create("dev")
    with pytest.raises(BackupError, match="only into itself"):
        service.restore("dev", "tester", record.id, target="staging")
    assert fake.restores == [] and service.ctx.store.deployments("staging") == []
    service.restore("dev", "tester", record.id)  # into itself: allowed
    assert [to.target for to in fake.restores] == ["dev"]


def test_a_continuous_backups_window_is_the_engines(tmp_path: Path) -> None:
    service, _ = _service(tmp_path)
    record = service.create("dev", kind="manual")
    service.update("dev", record.id, kind="continuous")
    row = next(r for r in service.list_with_windows("dev") if r["id"] == record.id)
    assert (row["recoverable_from"], row["recoverable_to"]) == (100.0, 200.0)


@pytest.mark.parametrize(
    ("database", "engine"),
    [
        ({"file": "notes.db"}, SqliteEngine),
        ({"engine": "postgres", "managed": True}, ManagedPostgresEngine),
        ({"engine": "postgres", "url": "postgresql://app@db/app"}, ExternalPostgresEngine),
    ],
)
def test_the_registry_picks_the_engine_from_the_database_spec(
    tmp_path: Path, database: dict[str, Any], engine: type
) -> None:
    service = backup_service(make_ctx(tmp_path, database))
    assert isinstance(service.engines.for_env("dev"), engine)


def test_a_backup_is_restored_by_the_engine_that_took_it(tmp_path: Path) -> None:
    engines = backup_service(make_ctx(tmp_path)).engines
    base = BackupRecord("b-1", "dev", "sqlite", "manual", "complete", 1.0, 2.0)
    dump = ObjectEntry("dev/b-1/dump.pgc.zst.enc", "dump", 1, "", 1, "")
    assert engines.for_record(base) is engines.sqlite
    assert engines.for_record(replace(base, engine="postgres")) is engines.managed
    assert engines.for_record(replace(base, engine="postgres", objects=(dump,))) is engines.external


def test_the_external_engine_refuses_with_the_users_hint(tmp_path: Path) -> None:
    engines = backup_service(make_ctx(tmp_path)).engines
    assert not engines.external.point_in_time and not engines.external.into_other_environments
    with pytest.raises(BackupError, match="not a point in time") as refused:
        engines.external.refuse_point_in_time("prod")
    assert "--backup ID" in refused.value.hint
    with pytest.raises(BackupError, match="managed PostgreSQL clusters only"):
        engines.external.refuse_other_environment("prod", "prod", "staging")
    engines.managed.refuse_point_in_time("prod")  # a managed cluster and SQLite refuse neither
    engines.sqlite.refuse_other_environment("dev", "dev", "staging")
