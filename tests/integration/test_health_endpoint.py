"""GET /health (application/health+json) of a real control plane, and instances' health history:
an instance that stops answering makes a warn and a recorded failure; its recovery is recorded."""

from __future__ import annotations

import os
import signal
from typing import Any

import httpx
import pytest
from tests.integration.conftest import Shipyard
from tests.integration.receivers import wait_for

pytestmark = pytest.mark.integration


def health(shipyard: Shipyard) -> tuple[int, str, dict[str, Any]]:
    resp = httpx.get(f"http://127.0.0.1:{shipyard.api_port}/health", timeout=10, trust_env=False)
    return resp.status_code, resp.headers["content-type"], resp.json()


def test_health_document_and_instance_history(shipyard: Shipyard) -> None:
    shipyard.manifest["alerts"] = {"interval": "1s"}
    shipyard.write_manifest()
    shipyard.up()
    code, kind, doc = health(shipyard)  # no token needed, nothing deployed yet
    assert code == 200 and kind == "application/health+json"
    assert doc["status"] in ("pass", "warn") and doc["serviceId"] == "shipyard:notes"
    assert doc["checks"]["dev:instances"][0]["output"] == "nothing deployed"
    assert doc["checks"]["dev:database"][0]["output"] == "no database yet"

    shipyard.cli("deploy")
    doc = wait_for(lambda: (d := health(shipyard)[2])["status"] == "pass" and d, 20, "a passing health")
    store = doc["checks"]["state-store:responseTime"][0]
    assert store["status"] == "pass" and store["observedUnit"] == "ms"
    assert doc["checks"]["haproxy:status"][0]["status"] == "pass"
    database = doc["checks"]["dev:database"][0]  # the notes app's SQLite file answers
    assert database["status"] == "pass" and database["componentId"] == "dev/sqlite"
    instances = doc["checks"]["dev:instances"]
    assert sorted(i["componentId"] for i in instances) == ["dev/blue-0", "dev/blue-1"]
    assert {i["observedValue"] for i in instances} == {"r1"}
    loops = {
        key.removesuffix(":loop"): entries for key, entries in doc["checks"].items() if key.endswith(":loop")
    }
    expected = {"reconciler", "checkpointer", "alerting", "backup-scheduler", "drill-scheduler", "log-read"}
    assert expected | {"log-write", "access-log", "notify-0"} <= set(loops), sorted(loops)
    assert all(e["status"] == "pass" and e["observedValue"] == 0 for es in loops.values() for e in es)
    with shipyard.api() as api:
        assert api.get("/api/status").json()["reconciler_errors"] == []
    text = str(doc)
    assert "pid" not in text and str(shipyard.status()["instances"][0]["port"]) not in text

    victim = shipyard.status()["instances"][0]
    os.killpg(victim["pid"], signal.SIGSTOP)  # alive, but it answers nothing
    try:
        doc = wait_for(lambda: (d := health(shipyard)[2])["status"] == "warn" and d, 30, "a warn")
        bad = [i for i in doc["checks"]["dev:instances"] if i["status"] != "pass"]
        assert [i["componentId"] for i in bad] == [f"dev/{victim['name']}"] and "timed out" in bad[0][
            "output"
        ]
    finally:
        os.killpg(victim["pid"], signal.SIGCONT)
    wait_for(lambda: health(shipyard)[2]["status"] == "pass", 30, "the recovery")
    with shipyard.api() as api:
        history = api.get("/api/health/dev/history").json()["history"]
        denied = httpx.get(f"http://127.0.0.1:{shipyard.api_port}/api/health/dev/history", trust_env=False)
    mine = [(h["status"], h["detail"]) for h in reversed(history) if h["instance"] == victim["name"]]
    assert [s for s, _ in mine] == ["pass", "fail", "pass"], mine
    assert "timed out" in mine[1][1]
    assert denied.status_code == 401
