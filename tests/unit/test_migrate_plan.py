"""Which release ``migrate plan`` may run with an environment's secrets, on a real state store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.unit.test_backup_service import make_ctx
from tests.unit.wiring import backup_service

from shipyard.core.records import NewDeployment, Release, Route
from shipyard.engine.context import Context
from shipyard.engine.data.database import AppDatabases
from shipyard.engine.data.migrations import Migrations
from shipyard.engine.delivery.maintenance import MaintenanceSwitch
from shipyard.errors import ConflictError
from shipyard.manifest.loader import parse_manifest

ENVS = {
    "dev": {"port": 18080},
    "staging": {"port": 18081},
    "production": {"port": 18082},
    "lab": {"port": 18083},
}


def manifest(promotion: Any) -> Any:
    spec: dict[str, Any] = {
        "app": "notes",
        "processes": {"web": {"command": "true"}},
        "database": {"file": "notes.db", "migrate": {"up": "true", "plan": "true"}},
        "environments": ENVS,
    }
    if promotion is not None:
        spec["promotion"] = promotion
    return parse_manifest(spec)


def migrations_of(ctx: Context) -> Migrations:
    backups = backup_service(ctx)
    return Migrations(ctx, backups, AppDatabases(ctx, backups.engines.clusters), MaintenanceSwitch(ctx))


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    ctx = make_ctx(tmp_path)
    ctx.manifest = manifest({"path": ["dev", "staging", "production"]})
    for n in (1, 2, 3):
        ctx.store.add_release(Release(f"r{n}", n, float(n), "c", "d", str(tmp_path), "", ""))
    # r1 went dev -> staging -> production; r2 passed dev only; r3 failed in dev
    for env, release, status in [
        ("dev", "r1", "succeeded"),
        ("staging", "r1", "succeeded"),
        ("production", "r1", "succeeded"),
        ("dev", "r2", "succeeded"),
        ("dev", "r3", "failed"),
    ]:
        dep = ctx.store.begin_deployment(NewDeployment(env, "deploy", "t", release), ctx.owner)
        ctx.store.finish_deployment(dep, status)
    ctx.store.set_route(Route("production", "blue", "r1"))
    ctx.store.set_route(Route("staging", "blue", "r1"))
    return ctx


@pytest.mark.parametrize(
    ("env", "asked", "planned"),
    [
        ("production", "r1", "r1"),  # it serves production
        ("production", None, "r1"),  # the newest that may reach it
        ("staging", "r2", "r2"),  # it passed dev, the environment before staging
        ("staging", None, "r2"),
        ("dev", "r3", "r3"),  # the first environment of the path takes any release
        ("dev", None, "r3"),
    ],
)
def test_the_serving_or_a_promoted_release_is_planned(
    ctx: Context, env: str, asked: str | None, planned: str
) -> None:
    assert migrations_of(ctx).plannable(env, asked).id == planned


@pytest.mark.parametrize(
    ("env", "asked", "said"),
    [
        ("production", "r2", "r2 must pass staging before production: it was never deployed to staging"),
        ("staging", "r3", "r3 must pass dev before staging: its deployments there ended failed"),
        ("lab", "r1", "lab is on no promotion path, so only its serving release (none) may be planned there"),
    ],
)
def test_any_other_release_is_refused_with_what_to_run(ctx: Context, env: str, asked: str, said: str) -> None:
    with pytest.raises(ConflictError) as info:
        migrations_of(ctx).plannable(env, asked)
    assert said in info.value.message
    assert "leave out --release" in info.value.hint


def test_without_a_path_only_the_serving_release_is_planned(ctx: Context) -> None:
    ctx.manifest = manifest(None)
    migrations = migrations_of(ctx)
    assert migrations.plannable("production", None).id == "r1"
    with pytest.raises(ConflictError):
        migrations.plannable("production", "r3")
    with pytest.raises(ConflictError) as info:
        migrations.plannable("dev", None)  # nothing serves dev
    assert "no release may be planned on dev" in info.value.message
