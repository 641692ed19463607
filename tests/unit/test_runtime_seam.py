"""The engine through the runtime seam, in milliseconds: the deploy engine, the reconciler,
usage sampling, log collection and migrations against the in-memory ``FakeRuntime`` and
``FakeProxy``, and the rule that the engine knows no process detail (pids, ports, groups)."""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path

import pytest
from tests.unit.fakes import FakeProber, FakeProxy, FakeSender, fake_data_drivers
from tests.unit.test_engine_fakes import MANIFEST, deploy, fakes, make_ctx

from shipyard.drivers.runtime.interface import InstanceSpec, Started, Usage
from shipyard.engine.context import Context
from shipyard.engine.data.backups import BackupService
from shipyard.engine.data.database import AppDatabases
from shipyard.engine.data.migrations import Migrations
from shipyard.engine.delivery import reconcile
from shipyard.engine.delivery.maintenance import MaintenanceSwitch
from shipyard.engine.delivery.reconcile import Reconciler, reconcile_at_start
from shipyard.engine.delivery.rollback import instant_rollback, rollback_plan
from shipyard.engine.observe.alerting import Alerting
from shipyard.engine.observe.logs import LogService
from shipyard.engine.observe.notifying import Notifier
from shipyard.manifest.loader import parse_manifest
from shipyard.state.logs import LogStore

ENGINE = Path(__file__).resolve().parents[2] / "src" / "shipyard" / "engine"


def databases(ctx: Context) -> AppDatabases:
    return AppDatabases(ctx, BackupService(ctx, fake_data_drivers()).engines.clusters)


def test_a_deployment_records_each_instances_endpoint_and_ref_and_routes_the_endpoints(
    tmp_path: Path,
) -> None:
    ctx = make_ctx(tmp_path, FakeProber())
    runtime, _, proxy = fakes(ctx)
    assert deploy(ctx).status == "succeeded"
    live = ctx.live_instances("dev")
    assert sorted((i.colour, i.slot, i.state) for i in live) == [
        ("blue", 0, "running"),
        ("blue", 1, "running"),
    ]
    assert {i.runtime_ref for i in live} == runtime.running  # the row keeps the runtime's own ref
    assert [(s.env, s.colour, s.slot, s.release.id) for s in runtime.started] == [
        ("dev", "blue", 0, "r1"),
        ("dev", "blue", 1, "r1"),
    ]
    assert all("PORT" not in s.variables for s in runtime.started)  # the runtime picks the port
    backend = proxy.layouts[-1].backend("dev")
    assert backend is not None
    routed = {s.address for s in backend.servers if s.address}
    assert routed == {i.endpoint for i in live} and all(a.startswith("10.0.0.") for a in routed)


def test_a_rollback_swaps_back_to_the_standby_release_without_starting_anything(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, FakeProber())
    runtime, _, proxy = fakes(ctx)
    deploy(ctx)
    deploy(ctx)
    started = len(runtime.started)
    target, route = rollback_plan(ctx, "dev", None)
    assert target == "r1" and route is not None  # the standby instances are alive: instant
    instant_rollback(ctx, "dev", "alice", route)
    assert len(runtime.started) == started and runtime.stopped == []
    backend = proxy.layouts[-1].backend("dev")
    assert backend is not None and backend.active == "blue"
    assert ctx.store.route("dev").active_release == "r1"


def test_a_rollback_is_not_instant_when_the_standby_instances_died(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, FakeProber())
    runtime, _, _ = fakes(ctx)
    deploy(ctx)
    deploy(ctx)
    for inst in ctx.live_instances("dev", "blue"):
        runtime.crash(inst.runtime_ref)
    target, route = rollback_plan(ctx, "dev", None)
    assert (target, route) == ("r1", None)  # a redeploy of r1, not a swap to dead instances


def test_a_release_that_fails_its_smoke_check_is_refused_and_the_old_one_keeps_serving(
    tmp_path: Path,
) -> None:
    prober = FakeProber()
    ctx = make_ctx(tmp_path, prober)
    runtime, _, proxy = fakes(ctx)
    deploy(ctx)
    serving = set(runtime.running)
    ctx.manifest = parse_manifest({**MANIFEST, "smoke": [{"path": "/ready", "contains": "ready"}]})
    dep = deploy(ctx)  # healthy, but its /ready answers "ok"
    assert dep.status == "failed" and "smoke check smoke[0] GET /ready" in (dep.error or "")
    assert runtime.running == serving and len(runtime.stopped) == 2  # only the new ones stopped
    assert ctx.store.route("dev").active_release == "r1"
    backend = proxy.layouts[-1].backend("dev")
    assert backend is not None and backend.active == "blue"


def test_an_instance_that_dies_is_started_again_on_its_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reconcile, "restart_delay", lambda restarts: 0.0)
    prober = FakeProber()
    ctx = make_ctx(tmp_path, prober)
    runtime, _, proxy = fakes(ctx)
    deploy(ctx)
    victim = ctx.live_instances("dev")[0]
    runtime.crash(victim.runtime_ref)
    reconciler = Reconciler(ctx, databases(ctx))
    reconciler.run_once()  # sees it down, counts the restart, schedules it
    assert ctx.store.instance(victim.id).restarts == 1
    assert servers(proxy)[victim.name] is None  # out of traffic at once: another one serves
    prober.status = 503  # the new run is not ready yet
    reconciler.run_once()  # due: started again
    again = ctx.store.instance(victim.id)
    assert runtime.alive(again.runtime_ref) and again.runtime_ref != victim.runtime_ref
    assert again.endpoint == victim.endpoint  # the runtime kept its endpoint
    assert runtime.started[-1].endpoint == victim.endpoint
    assert servers(proxy)[victim.name] is None  # started, not healthy: still out of traffic
    prober.status = 200
    time.sleep(ctx.manifest.health.interval)
    reconciler.run_once()
    assert servers(proxy)[victim.name] == victim.endpoint  # healthy: back, on the same address
    reconciler.run_once()
    assert len(runtime.started) == 3  # a live instance is not started again


def test_a_newly_dead_instance_leaves_traffic_before_a_slow_restart_of_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart may take seconds (Swarm: the replacement task starts once the old one has
    stopped): an instance seen dead on that tick must not wait for it to leave HAProxy."""
    monkeypatch.setattr(reconcile, "restart_delay", lambda restarts: 0.0)
    ctx = make_ctx(tmp_path, FakeProber())
    ctx.manifest = parse_manifest({**MANIFEST, "environments": {"dev": {"port": 18080, "instances": 3}}})
    runtime, _, proxy = fakes(ctx)
    deploy(ctx)
    first, second, _ = sorted(ctx.live_instances("dev"), key=lambda i: i.slot)
    reconciler = Reconciler(ctx, databases(ctx))
    runtime.crash(first.runtime_ref)
    reconciler.run_once()  # first: out of traffic, its restart due at once
    runtime.crash(second.runtime_ref)
    second_at_start: list[str | None] = []
    start = runtime.start

    def slow_start(spec: InstanceSpec) -> Started:
        second_at_start.append(servers(proxy)[second.name])
        return start(spec)

    monkeypatch.setattr(runtime, "start", slow_start)
    reconciler.run_once()  # first started again; second seen dead
    assert second_at_start == [None]  # second was out of HAProxy before first's start began


def test_the_last_live_instance_of_a_colour_is_left_to_the_health_check(tmp_path: Path) -> None:
    """Every instance dead at once (or a runtime that answers wrongly for a moment): none is
    taken out of traffic by the reconciler, so a backend that may still serve is never emptied."""
    ctx = make_ctx(tmp_path, FakeProber())
    runtime, _, proxy = fakes(ctx)
    deploy(ctx)
    before = proxy.layouts[-1]
    reconciler = Reconciler(ctx, databases(ctx))
    for inst in ctx.live_instances("dev"):
        runtime.crash(inst.runtime_ref)
    reconciler.run_once()
    assert proxy.layouts[-1] == before  # no change: HAProxy's health check decides


def servers(proxy: FakeProxy) -> dict[str, str | None]:
    backend = proxy.layouts[-1].backend("dev")
    assert backend is not None
    return {s.name: s.address for s in backend.servers}


def test_reconcile_at_start_stops_the_orphans_the_runtime_reports(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, FakeProber())
    runtime, _, _ = fakes(ctx)
    deploy(ctx)
    stray = json.dumps({"instance": 999, "start": 77})
    runtime.running.add(stray)
    runtime.strays = [stray, *[i.runtime_ref or "" for i in ctx.live_instances("dev")]]
    done = reconcile_at_start(ctx)
    assert "stopped orphan fake #77" in done
    assert runtime.stopped == [stray]  # the known instances are not orphans


def test_usage_is_sampled_through_the_runtime(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, FakeProber())
    runtime, _, _ = fakes(ctx)
    deploy(ctx)
    first, second = ctx.live_instances("dev")
    runtime.crash(second.runtime_ref)
    alerting = Alerting(ctx, Notifier(ctx.store, FakeSender()))
    alerting._sample(0.0)
    assert alerting.usage == {first.id: Usage(0.25, 0.01, 1 << 20), second.id: None}


def test_the_log_service_reads_the_runtimes_output_streams(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, FakeProber())
    runtime, _, _ = fakes(ctx)
    deploy(ctx)
    runtime.streams = {"dev/blue-0": ("dev", "blue-0")}
    runtime.lines = {"dev/blue-0": [b"hello", b'{"level": "error", "msg": "boom"}']}
    logs = LogService(ctx, LogStore(tmp_path / "logs.db"))
    batch = logs.collect({})
    assert batch is not None
    assert [(r.env, r.release, r.instance, r.stream, r.message) for r in batch.rows] == [
        ("dev", "r1", "blue-0", "stdout", "hello"),
        ("dev", "r1", "blue-0", "stdout", "boom"),
    ]
    assert [(s.path, s.offset) for s in batch.sources] == [("dev/blue-0", 2)]
    assert logs.collect({"dev/blue-0": batch.sources[0]}) is None  # read on from the position


def test_a_migration_runs_as_a_one_off_command_of_the_release(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, FakeProber())
    runtime, _, _ = fakes(ctx)
    deploy(ctx)
    backups = BackupService(ctx, fake_data_drivers())
    migrations = Migrations(ctx, backups, AppDatabases(ctx, backups.engines.clusters), MaintenanceSwitch(ctx))
    release = ctx.store.release("r1")
    runtime.exit_code = 3
    result = migrations._run("dev", release, "alembic current", 30.0)
    assert (result.code, result.output) == (3, "ran `alembic current`")
    job = runtime.one_offs[-1]
    assert (job.env, job.release.id, job.command, job.timeout) == ("dev", "r1", "alembic current", 30.0)


# what makes an instance a local process: pids and groups, the process runtime (its ports),
# psutil usage, log files, /bin/sh commands (the local PostgreSQL clusters' ports come from
# drivers/ports.py, which is not about instances)
PROCESS_DETAILS = {
    f"shipyard.drivers.runtime.{name}" for name in ("procs", "supervisor", "usage", "logfiles", "commands")
}


def _process_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module in PROCESS_DETAILS:
            found.append(f"{node.module}: {', '.join(a.name for a in node.names)}")
        elif isinstance(node, ast.ImportFrom) and node.module == "shipyard.drivers.runtime":
            found += [
                f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in PROCESS_DETAILS
            ]
    return found


EVERY_PART = ["delivery", "data", "observe", "trust", "pipeline", "triggers", "*.py"]


@pytest.mark.parametrize("part", EVERY_PART)
def test_the_engine_reaches_instances_only_through_the_runtime_interface(part: str) -> None:
    paths = ENGINE.glob(part) if part.endswith(".py") else (ENGINE / part).rglob("*.py")
    for path in paths:
        assert _process_imports(path) == [], (
            f"{path.relative_to(ENGINE)}: use drivers/runtime/interface.Runtime"
        )


def test_the_process_import_check_sees_a_pid_helper(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from shipyard.drivers.runtime.procs import stored_ref\n"
        "from shipyard.drivers.runtime.supervisor import free_port\n"
        "from shipyard.drivers.runtime import procs\n"
        "from shipyard.drivers.runtime.interface import Runtime\n"
    )
    assert _process_imports(module) == [
        "shipyard.drivers.runtime.procs: stored_ref",
        "shipyard.drivers.runtime.supervisor: free_port",
        "shipyard.drivers.runtime.procs",
    ]
