"""The health+json document's statuses: which facts make pass, warn and fail."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from shipyard.core.health_report import DatabaseFact, Facts, InstanceFact, health_document
from shipyard.core.loops import LoopError, LoopState, loop_problem
from shipyard.drivers.data.sqlite.backup import round_trip


def facts(instances: tuple[InstanceFact, ...] = (), **kw: object) -> Facts:
    base: dict[str, object] = {
        "app": "notes",
        "release_id": "0.1.0",
        "now": 1_700_000_000.0,
        "store_ms": 0.4,
        "store_error": "",
        "proxy_running": True,
        "serving": {"dev": "r1"},
        "instances": instances,
    }
    return Facts(**{**base, **kw})  # type: ignore[arg-type]


def inst(name: str, ok: bool | None = True, alive: bool = True) -> InstanceFact:
    return InstanceFact("dev", name, "r1", alive, ok, "" if ok else "timed out")


@pytest.mark.parametrize(
    ("given", "status"),
    [
        (facts((inst("blue-0"), inst("blue-1"))), "pass"),
        (facts((inst("blue-0"), inst("blue-1", ok=False))), "warn"),  # one of two fails
        (facts((inst("blue-0", ok=False), inst("blue-1", alive=False))), "fail"),  # none passes
        (facts((inst("blue-0"), inst("blue-1", ok=None))), "warn"),  # not probed yet
        (facts(()), "fail"),  # serving a release with no instance
        (facts((inst("blue-0"),), store_ms=None, store_error="locked"), "fail"),
        (facts((inst("blue-0"),), proxy_running=False), "fail"),
        (facts((), proxy_running=False, serving={"dev": None}), "warn"),  # nothing deployed yet
    ],
)
def test_status(given: Facts, status: str) -> None:
    assert health_document(given)["status"] == status


def test_document_shape() -> None:
    doc = health_document(facts((inst("blue-0"), inst("blue-1", ok=False))))
    assert (doc["version"], doc["releaseId"], doc["serviceId"]) == ("1", "0.1.0", "shipyard:notes")
    assert doc["checks"]["state-store:responseTime"][0] == {
        "componentType": "datastore",
        "time": "2023-11-14T22:13:20Z",
        "status": "pass",
        "observedValue": 0.4,
        "observedUnit": "ms",
    }
    failing = doc["checks"]["dev:instances"][1]
    assert failing["componentId"] == "dev/blue-1" and failing["output"] == "timed out"


@pytest.mark.parametrize(
    ("db", "serving", "status", "overall"),
    [
        (DatabaseFact("dev", "sqlite", 0.4), "r1", "pass", "pass"),
        (DatabaseFact("dev", "sqlite", None, ""), None, "pass", "pass"),  # no database yet
        (DatabaseFact("dev", "sqlite", None, "the SQLite database does not answer: x"), "r1", "fail", "fail"),
        (DatabaseFact("dev", "sqlite", None, "the SQLite database does not answer: x"), None, "warn", "warn"),
    ],
)
def test_each_environment_database_is_a_check(
    db: DatabaseFact, serving: str | None, status: str, overall: str
) -> None:
    insts = (inst("blue-0"),) if serving else ()
    doc = health_document(facts(insts, serving={"dev": serving}, databases=(db,)))
    check = doc["checks"]["dev:database"][0]
    assert check["status"] == status and check["componentType"] == "datastore"
    assert doc["status"] == overall


def test_sqlite_round_trip_on_real_files(tmp_path: Path) -> None:
    good = tmp_path / "good.db"
    with sqlite3.connect(good) as conn:
        conn.execute("CREATE TABLE t (x)")
    ms, error = round_trip(good)
    assert ms is not None and ms >= 0 and error == ""
    assert round_trip(tmp_path / "missing.db") == (None, "")  # nothing deployed yet
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database" * 100)
    ms, error = round_trip(broken)
    assert ms is None and "does not answer" in error


# background loops (core/loops.py) -------------------------------------------------------------
NOW = 1_700_000_000.0


def loop(name: str = "reconciler", **kw: object) -> LoopState:
    base: dict[str, object] = {
        "name": name,
        "period": 0.25,
        "running": True,
        "stopping": False,
        "busy": False,
        "last_start": NOW - 0.1,
        "last_end": NOW - 0.1,
        "last_success": NOW - 0.1,
        "next_run": NOW + 0.15,
    }
    return LoopState(**{**base, **kw})  # type: ignore[arg-type]


SECRET_ERROR = LoopError(NOW - 1, "StateError", "cannot open /srv/shipyard/state.db with password hunter2")


@pytest.mark.parametrize(
    ("state", "problem"),
    [
        (loop(), None),
        (loop(failures=1, errors=(SECRET_ERROR,)), "1 failed run in a row, the last with StateError"),
        (loop(failures=3, errors=(SECRET_ERROR,)), "3 failed runs in a row, the last with StateError"),
        (loop(next_run=NOW - 59), None),  # late, but within a minute
        (loop(next_run=NOW - 90), "overdue by 30s (runs every 0.25s)"),
        (loop(period=30.0, next_run=NOW - 290), None),  # slack: ten periods when that is longer
        (loop(period=30.0, next_run=NOW - 320), "overdue by 20s (runs every 30s)"),
        (loop(busy=True, next_run=None, last_start=NOW - 30), None),  # a long run, still in its slack
        (loop(busy=True, next_run=None, last_start=NOW - 100), "overdue by 40s (runs every 0.25s)"),
        (loop(late_after=5.0, next_run=NOW - 6), "overdue by 1s (runs every 0.25s)"),
        (loop(running=False, errors=(SECRET_ERROR,)), "stopped by itself after StateError"),
        (loop(running=False, stopping=True), None),  # the engine is closing
        (loop(running=False, last_start=None), None),  # not started yet
        (loop("notify-0", period=None, busy=True, next_run=None, last_start=NOW - 3600), None),  # a worker
    ],
)
def test_loop_problem(state: LoopState, problem: str | None) -> None:
    assert loop_problem(state, NOW) == problem


def test_every_loop_is_a_check_and_a_failing_one_warns_without_its_message() -> None:
    loops = (loop(), loop("alerting", failures=2, errors=(SECRET_ERROR,)), loop("notify-0", period=None))
    doc = health_document(facts((inst("blue-0"),), now=NOW, loops=loops))
    assert doc["status"] == "warn"  # the control plane answers; a loop's work waits
    assert doc["checks"]["reconciler:loop"] == [
        {
            "componentId": "reconciler",
            "componentType": "system",
            "status": "pass",
            "observedValue": 0,
            "observedUnit": "consecutive failures",
            "time": "2023-11-14T22:13:19Z",
        }
    ]
    failing = doc["checks"]["alerting:loop"][0]
    assert (
        failing["status"] == "warn"
        and failing["output"] == "2 failed runs in a row, the last with StateError"
    )
    assert doc["checks"]["notify-0:loop"][0]["status"] == "pass"
    assert "hunter2" not in str(doc) and "/srv" not in str(doc)


def test_loops_that_pass_leave_the_status_as_it_was_and_do_not_hide_a_fail() -> None:
    assert health_document(facts((inst("blue-0"),), loops=(loop(),)))["status"] == "pass"
    failing = (loop(failures=1),)
    assert health_document(facts((), loops=failing))["status"] == "fail"  # no instance serves


def test_loops_of_one_name_share_a_check() -> None:
    conns = (loop("access-log-conn", period=None), loop("access-log-conn", period=None))
    assert len(health_document(facts((inst("blue-0"),), loops=conns))["checks"]["access-log-conn:loop"]) == 2
