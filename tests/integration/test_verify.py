"""Post-deploy verification against a real environment: smoke paths through HAProxy, a real
``wrk`` load test on 127.0.0.1 and a custom command, recorded as the deployment's ``verify``
step; promotion onward from dev requires them passed, and says which check failed.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.integration.conftest import Shipyard
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration

HEALTH_CHECK = (
    "python -c \"import os, urllib.request; urllib.request.urlopen(os.environ['SHIPYARD_URL'] + '/health')\""
)


def verify_step(shipyard: Shipyard) -> dict[str, Any]:
    with shipyard.api() as api:
        dep = api.get("/api/deployments", params={"env": "dev"}).json()[0]
        shown = api.get(f"/api/deployments/{dep['id']}").json()
    assert shown["status"] == "succeeded", shown  # a failed check never undoes the switch
    return next(s for s in shown["steps"] if s["name"] == "verify")


def test_verification_gates_promotion(shipyard: Shipyard) -> None:
    verify: dict[str, Any] = {
        "smoke": ["/", "/health"],
        "load": {"path": "/", "duration": "2s", "connections": 4, "rate": 20, "p95": "2s"},
        "command": HEALTH_CHECK,
    }
    shipyard.manifest["environments"]["dev"]["verify"] = verify
    shipyard.manifest["environments"]["staging"] = {"port": free_port()}
    shipyard.manifest["promotion"] = ["dev", "staging"]
    shipyard.write_manifest()
    shipyard.up()

    shipyard.cli("deploy", "dev")  # r1
    step = verify_step(shipyard)
    assert step["status"] == "ok", step
    assert "smoke / 200" in step["detail"] and "requests/s, p95" in step["detail"], step
    assert "command passed" in step["detail"], step
    shipyard.cli("promote", "--to", "staging")

    verify["command"] = "echo the check says no; exit 3"
    shipyard.write_manifest()
    shipyard.cli("deploy", "dev")  # r2 serves dev, but fails its verification
    step = verify_step(shipyard)
    assert (
        step["status"] == "failed" and "command failed (exit status 3): the check says no" in step["detail"]
    )
    refused = shipyard.cli("promote", "--to", "staging", check=False)
    assert refused.returncode != 0
    assert "release r2 did not pass dev's post-deploy verification" in refused.stderr, refused.stderr
    assert "command failed (exit status 3)" in refused.stderr and "Try:" in refused.stderr

    verify["command"] = None
    verify["load"]["p95"] = 0.00001  # 10 microseconds: no HTTP answer is that quick
    shipyard.write_manifest()
    shipyard.cli("deploy", "dev")  # r3
    step = verify_step(shipyard)
    assert step["status"] == "failed" and "load failed: p95" in step["detail"], step
    assert "is above 0.01ms" in step["detail"], step
    refused = shipyard.cli("promote", "r3", "--to", "staging", check=False)
    assert "load failed: p95" in refused.stderr, refused.stderr
    with shipyard.api() as api:
        assert api.get("/api/status").json()["environments"]["staging"]["active_release"] == "r1"
