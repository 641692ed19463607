"""The state store on a real SQLite file: locks, deployments, routes."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.core.records import NewDeployment, Owner, Route
from shipyard.errors import LockHeldError, NotFoundError
from shipyard.state.store import StateStore, open_store

ME = Owner(pid=1234, started=1.0)


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return open_store(tmp_path / "state.db")


def test_one_deployment_at_a_time_per_environment(store: StateStore) -> None:
    first = store.begin_deployment(NewDeployment("dev", "deploy", "alice", reason="v2"), ME)
    with pytest.raises(LockHeldError) as info:
        store.begin_deployment(NewDeployment("dev", "deploy", "bob"), ME)
    assert "alice holds it since" in info.value.message
    assert f"deployment {first}" in info.value.message
    assert "shipyard lock break dev" in info.value.hint
    store.begin_deployment(NewDeployment("prod", "deploy", "bob"), ME)  # other env is free


def test_finishing_releases_the_lock(store: StateStore) -> None:
    dep = store.begin_deployment(NewDeployment("dev", "deploy", "alice"), ME)
    store.finish_deployment(dep, "succeeded")
    assert store.lock("dev") is None
    assert store.deployment(dep).status == "succeeded"
    store.begin_deployment(NewDeployment("dev", "deploy", "bob"), ME)


def test_breaking_a_lock_marks_the_deployment_interrupted(store: StateStore) -> None:
    dep = store.begin_deployment(NewDeployment("dev", "deploy", "alice"), ME)
    held = store.break_lock("dev", "interrupted", "gone")
    assert held is not None and held.deployment_id == dep
    assert store.deployment(dep).status == "interrupted"
    assert store.break_lock("dev") is None


def test_steps_and_events_are_recorded_in_order(store: StateStore) -> None:
    dep = store.begin_deployment(NewDeployment("dev", "deploy", "alice"), ME)
    step = store.start_step(dep, "build")
    store.add_event(dep, "build", "compiling")
    store.finish_step(dep, step, "build", "ok", "done")
    rec = store.deployment(dep)
    assert [(s.name, s.status, s.detail) for s in rec.steps] == [("build", "ok", "done")]
    assert rec.steps[0].seconds is not None and rec.steps[0].seconds >= 0
    events = store.events(dep)
    assert [(e["step"], e["status"]) for e in events] == [
        ("build", "running"),
        ("build", "info"),
        ("build", "ok"),
    ]
    assert store.events(dep, after=events[1]["id"])[0]["status"] == "ok"


def test_routes_upsert(store: StateStore) -> None:
    assert store.route("dev") == Route("dev")
    store.set_route(Route("dev", "blue", "r1"))
    store.set_route(Route("dev", "green", "r2", "blue", "r1", 5.0))
    assert store.route("dev") == Route("dev", "green", "r2", "blue", "r1", 5.0)
    assert len(store.all_routes()) == 1


def test_unknown_release(store: StateStore) -> None:
    with pytest.raises(NotFoundError, match="release 'r9' does not exist"):
        store.release("r9")


def test_reopening_keeps_state(tmp_path: Path) -> None:
    first = open_store(tmp_path / "s.db")
    first.set_route(Route("dev", "blue", "r1"))
    first.close()
    assert open_store(tmp_path / "s.db").route("dev").active_release == "r1"


def test_migrations_build_exactly_the_schema_the_store_queries(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from shipyard.state.schema import metadata

    open_store(tmp_path / "state.db").close()
    engine = create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == [], f"schema.py and the Alembic migrations disagree: {diff}"


def test_route_keeps_the_canary_split_and_rollouts_their_figures(store: StateStore) -> None:
    route = Route("dev", "blue", "r1", canary_colour="green", canary_release="r2", canary_weight=25)
    store.set_route(route)
    assert store.route("dev") == route
    dep = store.begin_deployment(NewDeployment("dev", "deploy", "alice"), ME)
    store.save_rollout(
        dep,
        env="dev",
        strategy="canary",
        plan={"steps": [25, 100]},
        step=0,
        weight=25,
        failures=0,
        phase="progressing",
        last_progress=1.0,
        started_at=1.0,
    )
    store.save_rollout(dep, phase="rolled_back", weight=0, figures={"check": {"result": "failed"}})
    saved = store.rollout(dep)
    assert saved is not None and saved["phase"] == "rolled_back" and saved["plan"] == {"steps": [25, 100]}
    assert saved["figures"] == {"check": {"result": "failed"}}
    assert store.latest_rollout("dev") == saved and store.latest_rollout("prod") is None
    store.add_samples(
        dep,
        [
            {
                "at": 2.0,
                "step": 0,
                "weight": 25,
                "role": "canary",
                "release_id": "r2",
                "requests": 10,
                "errors": 1,
                "rps": 5.0,
                "p50_ms": 1,
                "p95_ms": 2,
                "p99_ms": 3,
            }
        ],
    )
    assert [s["errors"] for s in store.samples(dep)] == [1]
