"""SIGKILL of the control plane at each deploy step: the restarted one converges.

The fault injection point SHIPYARD_FAILPOINT=before:<step>|after:<step> makes the
server kill itself with SIGKILL exactly there. After a restart without it,
HAProxy must route exactly to the colour the recorded state says, the deploy
lock must be free, no half-started instance may remain, and deploying again works.
"""

from __future__ import annotations

import os
import time

import psutil
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


# (failpoint while r3 starts beside r1 on blue, release serving after the restart)
BESIDE = [
    ("after:prepare", "r2"),
    ("after:start", "r2"),
    ("before:switch", "r2"),
    ("after:switch", "r3"),
]


@pytest.mark.parametrize(("point", "serving"), BESIDE)
def test_kill_while_a_release_starts_beside_the_standby_one_converges(
    shipyard: Shipyard, point: str, serving: str
) -> None:
    shipyard.up()
    shipyard.cli("deploy")
    shipyard.use("v2")
    shipyard.cli("deploy")  # green serves r2, blue keeps r1 for rollback
    v1 = {i["name"]: i["pid"] for i in shipyard.status()["instances"] if i["release"] == "r1"}
    shipyard.cli("down", "--keep-apps")
    shipyard.up(SHIPYARD_FAILPOINT=point)
    pid = shipyard.server_pid()
    shipyard.use("v1")  # r3
    assert shipyard.cli("deploy", check=False).returncode == 1
    shipyard.wait_server_gone(pid)

    shipyard.up()
    status = shipyard.status()
    assert status["lock"] is None and status["active_release"] == serving
    for _ in range(20):  # no half-switched traffic
        assert shipyard.serving()["release"] == serving
    releases = {i["name"]: i["release"] for i in status["instances"]}
    if serving == "r2":  # blue exactly as it was: r1, never restarted, r3 gone
        assert releases == {"blue-0": "r1", "blue-1": "r1", "green-0": "r2", "green-1": "r2"}
        assert {i["name"]: i["pid"] for i in status["instances"] if i["release"] == "r1"} == v1
        assert shipyard.cli("rollback").stdout.count("traffic back on blue (r1)") == 1
    else:  # switched: r3 on blue's other slots, r1 stopped, green's r2 stands by
        assert sorted(releases.values()) == ["r2", "r2", "r3", "r3"]
        assert status["standby_release"] == "r2"
    assert all(i["alive"] for i in status["instances"])
    assert _instance_groups(shipyard) == {i["pid"] for i in status["instances"]}  # no orphan


def _instance_groups(shipyard: Shipyard) -> set[int]:
    """Process groups of every live process an instance of this home started."""
    groups = set()
    for proc in shipyard.processes():
        try:
            if "SHIPYARD_INSTANCE_ID" in proc.environ():
                groups.add(os.getpgid(proc.pid))
        except (ProcessLookupError, psutil.Error):
            continue
    return groups


def test_kill_after_an_instant_rollbacks_commit_converges_on_the_recorded_route(shipyard: Shipyard) -> None:
    """The rollback's lock, deployment and route are one commit: killed right after it, before
    HAProxy was told, the restarted control plane routes to the rolled-back release, and the
    lock is free."""
    shipyard.up()
    shipyard.cli("deploy")
    shipyard.use("v2")
    shipyard.cli("deploy")
    shipyard.cli("down", "--keep-apps")
    shipyard.up(SHIPYARD_FAILPOINT="rollback:after-route")
    pid = shipyard.server_pid()
    assert shipyard.cli("rollback", check=False).returncode == 1
    shipyard.wait_server_gone(pid)
    assert shipyard.serving()["release"] == "r2"  # HAProxy was not told before the kill

    shipyard.up()
    status = shipyard.status()
    assert status["lock"] is None
    assert (status["active_release"], status["standby_release"]) == ("r1", "r2")
    for _ in range(20):
        assert shipyard.serving()["release"] == "r1"
    assert "traffic back on green (r2)" in shipyard.cli("rollback").stdout
    assert shipyard.serving()["release"] == "r2"
