"""SIGKILL of the control plane at each deploy step: the restarted one converges.

The fault injection point SHIPYARD_FAILPOINT=before:<step>|after:<step> makes the
server kill itself with SIGKILL exactly there. After a restart without it,
HAProxy must route exactly to the colour the recorded state says, the deploy
lock must be free, no half-started instance may remain, and deploying again works.
"""

from __future__ import annotations

import time

import pytest
from tests.integration.conftest import Shipyard

pytestmark = pytest.mark.integration

# (failpoint, release serving after the restart)
POINTS = [
    ("before:build", "r1"),
    ("after:build", "r1"),
    ("after:start", "r1"),
    ("after:health", "r1"),
    ("before:switch", "r1"),
    ("after:switch", "r2"),
    ("after:drain", "r2"),
]


@pytest.mark.parametrize(("point", "serving"), POINTS)
def test_kill_at_each_step_converges(shipyard: Shipyard, point: str, serving: str) -> None:
    shipyard.up(SHIPYARD_FAILPOINT="before:nothing")
    shipyard.cli("deploy")
    shipyard.cli("down", "--keep-apps")
    shipyard.up(SHIPYARD_FAILPOINT=point)
    pid = shipyard.server_pid()
    shipyard.use("v2")
    done = shipyard.cli("deploy", check=False)
    assert done.returncode == 1
    shipyard.wait_server_gone(pid)
    for _ in range(10):  # traffic kept flowing while the control plane was dead
        assert shipyard.serving()["version"] in ("1.0.0", "2.0.0")

    shipyard.up()
    status = shipyard.status()
    assert status["lock"] is None
    assert shipyard.serving()["release"] == status["active_release"]
    expected = serving if point not in ("before:build",) else "r1"
    assert status["active_release"] == expected
    for _ in range(20):
        assert shipyard.serving()["release"] == expected
    names = {i["name"].split("-")[0] for i in status["instances"]}
    allowed = {status["active_colour"], status["standby_colour"]} - {None}
    assert names <= allowed, status["instances"]
    assert all(i["alive"] for i in status["instances"])
    history = shipyard.cli("deployments").stdout
    assert "interrupted" in history

    shipyard.use("v2" if expected == "r1" else "v1")
    shipyard.cli("deploy")
    assert shipyard.serving()["release"] != expected
    time.sleep(0.2)
