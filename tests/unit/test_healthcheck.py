"""The health+json document's statuses: which facts make pass, warn and fail."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from shipyard.core.health_report import DatabaseFact, Facts, InstanceFact, health_document
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
