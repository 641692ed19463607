"""The engine against fakes of its drivers: every fake keeps its Protocol's methods, and a
deployment's decisions (which instances start, what the proxy routes, what stops) are the same
whatever implements the runtime, builder, prober and proxy."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit.fakes import (
    FakeAccessLog,
    FakeBuilder,
    FakeDumps,
    FakePostgres,
    FakeProber,
    FakeProxy,
    FakeRuntime,
    FakeSender,
    FakeStorage,
    fake_data_drivers,
)

from shipyard.core.records import NewDeployment, Owner
from shipyard.drivers.data import interface as data_ports
from shipyard.drivers.data.backup_storage import LocalFolderStorage
from shipyard.drivers.data.postgres.dump import PgDump
from shipyard.drivers.data.postgres.programs import Postgres
from shipyard.drivers.observe import interface as observe_ports
from shipyard.drivers.observe.receivers import Dispatcher
from shipyard.drivers.proxy import interface as proxy_ports
from shipyard.drivers.proxy.accesslog import AccessLogReceiver
from shipyard.drivers.proxy.haproxy import HAProxy
from shipyard.drivers.runtime import interface as runtime_ports
from shipyard.drivers.runtime.builder import Builder
from shipyard.drivers.runtime.probe import Prober
from shipyard.drivers.runtime.supervisor import LocalRuntime
from shipyard.engine.context import Context
from shipyard.engine.data.backups import BackupService
from shipyard.engine.data.database import AppDatabases
from shipyard.engine.data.migrations import Migrations
from shipyard.engine.delivery.deploy import Deployment
from shipyard.engine.delivery.maintenance import MaintenanceSwitch
from shipyard.engine.delivery.reconcile import reconcile_at_start
from shipyard.engine.engine import Engine
from shipyard.home import Paths
from shipyard.manifest.loader import parse_manifest
from shipyard.runtime import wire_services
from shipyard.state.store import open_store

# Protocol -> (the real implementation, the fake)
PORTS: dict[type, tuple[type, type]] = {
    runtime_ports.Runtime: (LocalRuntime, FakeRuntime),
    runtime_ports.ReleaseBuilder: (Builder, FakeBuilder),
    runtime_ports.HealthProber: (Prober, FakeProber),
    proxy_ports.Proxy: (HAProxy, FakeProxy),
    proxy_ports.AccessLog: (AccessLogReceiver, FakeAccessLog),
    observe_ports.Sender: (Dispatcher, FakeSender),
    data_ports.BackupStorage: (LocalFolderStorage, FakeStorage),
    data_ports.PostgresPrograms: (Postgres, FakePostgres),
    data_ports.DumpTools: (PgDump, FakeDumps),
}


def _methods(cls: type) -> dict[str, list[str]]:
    return {
        name: list(inspect.signature(member).parameters)
        for name, member in vars(cls).items()
        if callable(member) and not name.startswith("_")
    }


@pytest.mark.parametrize("port", list(PORTS), ids=lambda p: p.__name__)
def test_the_driver_and_its_fake_both_have_every_method_of_the_protocol(port: type) -> None:
    wanted = _methods(port)
    assert wanted, f"{port.__name__} declares no method"
    for cls in PORTS[port]:
        have = {
            name: list(inspect.signature(getattr(cls, name)).parameters)
            for name in wanted
            if hasattr(cls, name)
        }
        assert have == wanted, f"{cls.__name__} does not implement {port.__name__} as declared"


MANIFEST = {
    "app": "notes",
    "processes": {"web": {"command": "python -m notes"}},
    "health": {"interval": "10ms", "healthy_threshold": 1, "start_timeout": "1s"},
    "environments": {"dev": {"port": 18080, "instances": 2}},
}


def make_ctx(tmp_path: Path, prober: FakeProber) -> Context:
    manifest = parse_manifest(MANIFEST)
    home = tmp_path / "home"
    home.mkdir()
    return Context(
        paths=Paths(home, tmp_path),
        store=open_store(home / "state.db"),
        proxy=FakeProxy(),
        runtime=FakeRuntime(),
        builder=FakeBuilder(home / "releases"),
        prober=prober,
        owner=Owner(1, 0.0),
        manifest=manifest,
        manifest_text="app: notes",
    )


def deploy(ctx: Context) -> Any:
    new = NewDeployment(env="dev", kind="deploy", requested_by="test", release_id=None, from_release=None)
    dep_id = ctx.store.begin_deployment(new, ctx.owner)
    backups = BackupService(ctx, fake_data_drivers())
    databases = AppDatabases(ctx, backups.engines.clusters)
    Deployment(
        ctx, databases, Migrations(ctx, backups, databases, MaintenanceSwitch(ctx)), dep_id, "dev", None
    ).run()
    return ctx.store.deployment(dep_id)


def fakes(ctx: Context) -> tuple[FakeRuntime, FakeBuilder, FakeProxy]:
    assert isinstance(ctx.runtime, FakeRuntime)
    assert isinstance(ctx.builder, FakeBuilder)
    assert isinstance(ctx.proxy, FakeProxy)
    return ctx.runtime, ctx.builder, ctx.proxy


def test_a_first_deployment_starts_the_instances_and_routes_them(tmp_path: Path) -> None:
    prober = FakeProber()
    ctx = make_ctx(tmp_path, prober)
    runtime, builder, proxy = fakes(ctx)
    dep = deploy(ctx)
    assert (dep.status, dep.error) == ("succeeded", None)
    assert builder.built == ["r1"]
    assert [(spec.command, spec.colour, spec.variables["SHIPYARD_COLOUR"]) for spec in runtime.started] == [
        ("python -m notes", "blue", "blue"),
        ("python -m notes", "blue", "blue"),
    ]
    endpoints = {i.endpoint for i in ctx.live_instances("dev")}
    assert len(endpoints) == 2 and None not in endpoints
    assert {endpoint for endpoint, _ in prober.asked} == endpoints  # each new instance was probed
    backend = proxy.layouts[-1].backend("dev")
    assert backend is not None and backend.active == "blue"
    assert {s.address for s in backend.servers if s.colour == "blue" and s.address} == endpoints
    route = ctx.store.route("dev")
    assert (route.active_colour, route.active_release) == ("blue", "r1")


def test_the_next_deployment_switches_colour_and_keeps_the_old_one_standing_by(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, FakeProber())
    runtime, _, proxy = fakes(ctx)
    deploy(ctx)
    dep = deploy(ctx)
    assert dep.status == "succeeded"
    route = ctx.store.route("dev")
    assert (route.active_colour, route.active_release) == ("green", "r2")
    assert (route.standby_colour, route.standby_release) == ("blue", "r1")
    assert runtime.stopped == []  # blue stands by for an instant rollback
    backend = proxy.layouts[-1].backend("dev")
    assert backend is not None and backend.active == "green"


def test_an_unhealthy_release_is_stopped_and_the_old_one_keeps_serving(tmp_path: Path) -> None:
    prober = FakeProber()
    ctx = make_ctx(tmp_path, prober)
    runtime, _, proxy = fakes(ctx)
    deploy(ctx)
    serving = set(runtime.running)
    prober.status = 503
    dep = deploy(ctx)
    assert dep.status == "failed"
    assert "did not become healthy" in (dep.error or "")
    assert runtime.running == serving  # only the new instances were stopped
    assert len(runtime.stopped) == 2
    route = ctx.store.route("dev")
    assert (route.active_colour, route.active_release) == ("blue", "r1")
    backend = proxy.layouts[-1].backend("dev")
    assert backend is not None and backend.active == "blue"


# the loop abstraction is a building block with its clock and wait injectable, not a driver of
# something outside that a fake would stand in for
BUILDING_BLOCKS = ("shipyard.drivers.loops",)


def _driver_classes_imported(path: Path) -> list[str]:
    """The driver classes (not Protocols, not plain records) a module imports by name."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("shipyard.drivers.")):
            continue
        if node.module in BUILDING_BLOCKS:
            continue
        module = importlib.import_module(node.module or "")
        for alias in node.names:
            value = getattr(module, alias.name, None)  # None: a submodule, not a class
            is_record = dataclasses.is_dataclass(value)
            is_protocol = getattr(value, "_is_protocol", False)
            if isinstance(value, type) and not is_record and not is_protocol:
                found.append(f"{node.module}.{alias.name}")
    return found


TYPED_BY_PROTOCOLS = ["delivery", "data", "observe", "trust", "pipeline", "triggers", "*.py"]


@pytest.mark.parametrize("part", TYPED_BY_PROTOCOLS)
def test_the_engine_types_its_drivers_by_their_protocols(part: str) -> None:
    base = Path(__file__).resolve().parents[2] / "src" / "shipyard" / "engine"
    paths = base.glob(part) if part.endswith(".py") else (base / part).rglob("*.py")
    for path in paths:
        assert _driver_classes_imported(path) == [], f"{path.name}: import the Protocol instead"


def test_the_protocol_check_sees_a_concrete_driver() -> None:
    with tempfile.TemporaryDirectory() as folder:
        module = Path(folder) / "m.py"
        module.write_text(
            "from shipyard.drivers.runtime.supervisor import LocalRuntime, free_port\n"
            "from shipyard.drivers.runtime.interface import Runtime, Started\n"
        )
        assert _driver_classes_imported(module) == ["shipyard.drivers.runtime.supervisor.LocalRuntime"]


def make_engine(tmp_path: Path) -> Engine:
    """The engine wired as the composition root wires it, over fake drivers."""
    (tmp_path / "shipyard.yaml").write_text(yaml.safe_dump(MANIFEST))
    ctx = make_ctx(tmp_path, FakeProber())
    return Engine(ctx, wire_services(ctx, data=fake_data_drivers()))


def test_the_app_databases_and_migrations_are_wired_once_over_the_registrys_clusters(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, FakeProber())
    postgres = FakePostgres()
    services = wire_services(ctx, data=fake_data_drivers(postgres=postgres))
    assert services.databases.clusters is services.backups.engines.clusters
    assert services.databases.clusters.pg is postgres  # the drivers given, not others built on the spot
    assert services.migrations.databases is services.databases
    assert services.migrations.backups is services.backups
    assert services.launcher.databases is services.databases
    assert services.launcher.migrations is services.migrations
    assert services.reconciler.databases is services.databases


def finished(engine: Engine, dep_id: int) -> str:
    deadline = time.monotonic() + 20
    while (status := engine.history.deployment(dep_id).status) == "running":
        assert time.monotonic() < deadline, "the deployment did not finish"
        time.sleep(0.02)
    return status


def test_the_engine_wired_over_fakes_deploys_and_rolls_back_by_one_routing_change(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    runtime, _, proxy = fakes(engine.ctx)
    assert finished(engine, engine.deploy("dev", "alice")) == "succeeded"
    assert finished(engine, engine.deploy("dev", "alice")) == "succeeded"
    started, synced = len(runtime.started), len(proxy.layouts)
    dep_id = engine.rollback("dev", "alice")
    assert engine.history.deployment(dep_id).status == "succeeded"  # done in the request itself
    assert len(runtime.started) == started  # nothing started: r1 stood by on blue
    assert len(proxy.layouts) == synced + 1  # one routing change
    backend = proxy.layouts[-1].backend("dev")
    assert backend is not None and backend.active == "blue"
    shown = engine.status()["environments"]["dev"]
    assert (shown["active_release"], shown["standby_release"]) == ("r1", "r2")
    assert all(i["alive"] and i["proxy_status"] == "UP" for i in shown["instances"] if i["release"] == "r1")
    engine.launcher.close()


def test_reconcile_at_start_adopts_what_the_runtime_runs_and_marks_the_rest_down(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, FakeProber())
    runtime, _, proxy = fakes(ctx)
    deploy(ctx)
    first, second = sorted(ctx.live_instances("dev"), key=lambda i: i.slot)
    runtime.crash(second.runtime_ref)  # it died while we were down
    synced = len(proxy.layouts)
    done = reconcile_at_start(ctx)
    assert f"adopted dev/{first.name} ({runtime.label(first.runtime_ref)})" in done
    assert f"dev/{second.name} was down; it will be restarted" in done
    assert runtime.stopped == []  # both still belong to the route
    assert len(proxy.layouts) == synced + 1  # HAProxy re-synced with the recorded state
