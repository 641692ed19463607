"""The workers rule (``core/workers.py``): they run for the serving release, in its colour,
as many as the manifest says; everything else is stopped. Then the same rule through the
deploy engine, the rollback and the reconciler over the in-memory fakes."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.fakes import FakeProber, fake_data_drivers
from tests.unit.test_engine_fakes import MANIFEST, deploy, fakes, make_ctx

from shipyard.core.records import Instance, Route
from shipyard.core.workers import plan_workers
from shipyard.engine.context import Context
from shipyard.engine.data.backups import BackupService
from shipyard.engine.data.database import AppDatabases
from shipyard.engine.delivery.reconcile import Reconciler, reconcile_at_start
from shipyard.engine.delivery.rollback import instant_rollback, rollback_plan
from shipyard.engine.delivery.workers import live_workers
from shipyard.manifest.loader import parse_manifest


def worker(id: int, process: str, colour: str, slot: int, release: str) -> Instance:
    return Instance(id, "dev", colour, slot, release, None, None, "running", 0, 0.0, process)  # type: ignore[arg-type]


SERVING = Route("dev", "green", "r2", "blue", "r1")


def test_nothing_deployed_runs_no_worker() -> None:
    live = [worker(1, "queue", "blue", 0, "r1")]
    plan = plan_workers(Route("dev"), {"queue": 1}, live)
    assert plan.start == [] and plan.stop == live


def test_the_serving_release_gets_its_workers_and_the_standby_none() -> None:
    old = worker(1, "queue", "blue", 0, "r1")  # the standby release's: stopped
    kept = worker(2, "queue", "green", 0, "r2")
    plan = plan_workers(SERVING, {"queue": 2, "mailer": 1}, [old, kept])
    assert plan.stop == [old]
    assert plan.start == [("queue", 1), ("mailer", 0)]


@pytest.mark.parametrize(
    ("wanted", "stopped"),
    [
        ({"queue": 1}, [2]),  # fewer wanted: the extra slot stops
        ({}, [1, 2]),  # the process left the manifest (or 0 in this environment)
        ({"queue": 2}, []),
    ],
)
def test_counts_follow_the_manifest(wanted: dict[str, int], stopped: list[int]) -> None:
    live = [worker(1, "queue", "green", 0, "r2"), worker(2, "queue", "green", 1, "r2")]
    plan = plan_workers(SERVING, wanted, live)
    assert [i.id for i in plan.stop] == stopped
    assert plan.start == []


def test_a_duplicate_slot_is_stopped_and_a_converged_plan_is_empty() -> None:
    first, twin = worker(1, "queue", "green", 0, "r2"), worker(2, "queue", "green", 0, "r2")
    assert plan_workers(SERVING, {"queue": 1}, [first, twin]).stop == [twin]
    assert plan_workers(SERVING, {"queue": 1}, [first]).empty


# the rule through the engine, over the in-memory fakes ----------------------------------------

WITH_WORKER = {
    **MANIFEST,
    "processes": {
        "web": {"command": "python -m notes"},
        "queue": {"command": "python -m queue", "settle": 0},
    },
}


def worker_ctx(tmp_path: Path) -> Context:
    ctx = make_ctx(tmp_path, FakeProber())
    ctx.manifest = parse_manifest(WITH_WORKER)
    return ctx


def workers(ctx: Context) -> list[tuple[str, str, str]]:
    return [(i.name, i.release_id, i.state) for i in live_workers(ctx, "dev")]


def test_a_deploy_starts_the_new_workers_and_stops_the_old_after_the_switch(tmp_path: Path) -> None:
    ctx = worker_ctx(tmp_path)
    runtime, _, proxy = fakes(ctx)
    assert deploy(ctx).status == "succeeded"
    assert workers(ctx) == [("queue-blue-0", "r1", "running")]
    spec = next(s for s in runtime.started if s.process == "queue")
    assert (spec.command, spec.listens, spec.variables["SHIPYARD_PROCESS"]) == (
        "python -m queue",
        False,
        "queue",
    )
    old = live_workers(ctx, "dev")[0]
    dep = deploy(ctx)
    assert [s.name for s in dep.steps].index("workers") < [s.name for s in dep.steps].index("switch")
    assert workers(ctx) == [("queue-green-0", "r2", "running")]
    assert old.runtime_ref in runtime.stopped
    servers = {s.name for b in proxy.layouts[-1].backends for s in b.servers}
    assert not any("queue" in name for name in servers)  # no traffic to workers


def test_a_failed_deploy_stops_only_the_new_workers_and_a_rollback_restores_the_old(tmp_path: Path) -> None:
    ctx = worker_ctx(tmp_path)
    deploy(ctx)
    deploy(ctx)
    target, route = rollback_plan(ctx, "dev", None)
    assert target == "r1" and route is not None
    instant_rollback(ctx, "dev", "alice", route)
    assert workers(ctx) == [("queue-green-0", "r2", "running")]  # until the reconciler converges
    dbs = AppDatabases(ctx, BackupService(ctx, fake_data_drivers()).engines.clusters)
    Reconciler(ctx, dbs)._converge_workers()
    assert workers(ctx) == [("queue-blue-0", "r1", "running")]
    ctx.manifest = parse_manifest({**WITH_WORKER, "smoke": [{"path": "/nope", "expect_status": 418}]})
    failed = deploy(ctx)
    assert failed.status == "failed" and "smoke" in (failed.error or "")  # before its workers start
    assert workers(ctx) == [("queue-blue-0", "r1", "running")]


def test_a_worker_left_stopping_by_a_killed_control_plane_is_stopped_at_start(tmp_path: Path) -> None:
    ctx = worker_ctx(tmp_path)
    runtime, _, _ = fakes(ctx)
    deploy(ctx)
    (inst,) = live_workers(ctx, "dev")
    ctx.store.update_instance(inst.id, state="stopping")  # killed between its two writes
    done = reconcile_at_start(ctx)
    assert inst.runtime_ref in runtime.stopped
    assert ctx.store.instance(inst.id).state == "stopped"
    assert "stopped dev/queue-blue-0 (r1): it was being stopped" in done
