"""An instant rollback's rows and the WAL checkpoint, on a real SQLite file (``state/store.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event

from shipyard.core.records import NewDeployment, Owner, Release, Route
from shipyard.errors import LockHeldError
from shipyard.state.store import StateStore, open_store

ME = Owner(pid=1234, started=1.0)
BEFORE = Route("dev", "green", "r2", "blue", "r1", 10.0)
SWAPPED = Route("dev", "blue", "r1", "green", "r2", 20.0)
ROLLBACK = NewDeployment("dev", "rollback", "alice", release_id="r1", from_release="r2", reason="to r1")


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    opened = open_store(tmp_path / "state.db")
    for n in (1, 2):
        opened.add_release(Release(f"r{n}", n, 1.0, "sum", "deps", f"/r{n}", "app: demo", "."))
    opened.set_route(BEFORE)
    return opened


@contextmanager
def commits(store: StateStore) -> Iterator[list[int]]:
    """Count the transactions committed on the store's engine (each is an fsync of the WAL)."""
    seen: list[int] = []

    def count(_conn: object) -> None:
        seen.append(1)

    event.listen(store._engine, "commit", count)
    try:
        yield seen
    finally:
        event.remove(store._engine, "commit", count)


def test_a_switch_takes_the_lock_records_its_step_and_moves_the_route_in_one_commit(
    store: StateStore,
) -> None:
    with commits(store) as seen:
        dep_id, step_id = store.begin_switch(ROLLBACK, ME, SWAPPED)
    assert len(seen) == 1
    assert store.route("dev") == SWAPPED
    held = store.lock("dev")
    assert held is not None and held.deployment_id == dep_id
    dep = store.deployment(dep_id)
    assert (dep.status, dep.kind, dep.release_id) == ("running", "rollback", "r1")
    assert [(s.name, s.status) for s in dep.steps] == [("switch", "running")]
    assert step_id > 0


def test_a_held_lock_refuses_the_switch_and_leaves_the_route(store: StateStore) -> None:
    busy = store.begin_deployment(NewDeployment("dev", "deploy", "bob"), ME)
    with pytest.raises(LockHeldError):
        store.begin_switch(ROLLBACK, ME, SWAPPED)
    assert store.route("dev") == BEFORE
    assert [d.id for d in store.deployments("dev")] == [busy]


def test_finishing_a_switch_records_the_outcome_and_frees_the_lock_in_one_commit(store: StateStore) -> None:
    dep_id, step_id = store.begin_switch(ROLLBACK, ME, SWAPPED)
    with commits(store) as seen:
        store.finish_switch(dep_id, step_id, "ok", "traffic back on blue (r1) in 3.0 ms")
    assert len(seen) == 1
    dep = store.deployment(dep_id)
    assert (dep.status, dep.error) == ("succeeded", None)
    assert [(s.status, s.detail) for s in dep.steps] == [("ok", "traffic back on blue (r1) in 3.0 ms")]
    assert store.lock("dev") is None
    assert store.events(dep_id)[-1]["status"] == "ok"


def test_a_failed_switch_fails_its_deployment_with_the_reason(store: StateStore) -> None:
    dep_id, step_id = store.begin_switch(ROLLBACK, ME, SWAPPED)
    store.finish_switch(dep_id, step_id, "failed", "HAProxy refused", "see `shipyard status`")
    dep = store.deployment(dep_id)
    assert (dep.status, dep.error, dep.hint) == ("failed", "HAProxy refused", "see `shipyard status`")
    assert dep.steps[0].status == "failed"
    assert store.lock("dev") is None


def test_commits_leave_the_wal_to_the_checkpointer(store: StateStore) -> None:
    """No commit copies the WAL back (SQLite's automatic checkpoint at 1,000 pages would): a
    background checkpoint finds every frame of three 500-page commits and copies them all."""
    with store._engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE filler (blob BLOB)")
    for _ in range(3):
        with store._engine.begin() as conn:
            conn.exec_driver_sql(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) "
                "INSERT INTO filler SELECT randomblob(3500) FROM n"
            )
    frames, copied = store.checkpoint()
    assert frames > 1500
    assert copied == frames
    with store._engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM filler").scalar() == 1500
