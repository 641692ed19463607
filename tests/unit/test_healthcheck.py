"""The health+json document's statuses: which facts make pass, warn and fail."""

from __future__ import annotations

import pytest

from shipyard.core.healthcheck import Facts, InstanceFact, health_document


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
