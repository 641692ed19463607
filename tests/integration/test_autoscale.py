"""Autoscaling on real processes behind the real HAProxy: CPU load through the example's
``/work`` endpoint scales dev out to max, the added instance serves once healthy, the count
returns to min after the load and the down window, no request fails through it all; a pin holds
the count across a killed control plane until ``--auto``; every decision is in the history."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest
from tests.integration.conftest import Load, Shipyard
from tests.integration.receivers import wait_for

pytestmark = pytest.mark.integration


def autoscaled(shipyard: Shipyard, down_window: str = "3s") -> None:
    shipyard.manifest["processes"]["web"].pop("instances", None)
    shipyard.manifest["environments"]["dev"]["autoscale"] = {
        "min": 1,
        "max": 2,
        "interval": "1s",
        "targets": {"cpu": 40},
        "down": {"window": down_window, "policies": [{"instances": 1, "period": "1s"}]},
    }
    shipyard.manifest["strategy"]["blue_green"]["stop_timeout"] = "5s"
    shipyard.write_manifest()


def scale_state(shipyard: Shipyard) -> dict[str, Any]:
    with shipyard.api() as api:
        return dict(api.get("/api/scale/dev").json())


def serving(shipyard: Shipyard) -> list[dict[str, Any]]:
    return [
        i for i in shipyard.status()["instances"] if i["state"] == "running" and i["proxy_status"] == "UP"
    ]


def test_cpu_load_scales_out_and_back_in_without_a_failed_request(shipyard: Shipyard) -> None:
    autoscaled(shipyard)
    shipyard.up()
    shipyard.cli("deploy")
    assert len(shipyard.status()["instances"]) == 1  # min
    with Load(shipyard.port, "/work?ms=15") as load, Load(shipyard.port, "/work?ms=15") as other:
        assert wait_for(lambda: len(serving(shipyard)) == 2, timeout=40), shipyard.cli(
            "scale", "dev", "--history"
        ).stdout
        assert wait_for(lambda: load.ok + other.ok > 50, timeout=20)
    ended = time.monotonic()
    wait_for(lambda: scale_state(shipyard)["desired"] == 1, timeout=20, what="the count back at min")
    # not before the down window (3 s) since the last high recommendation (at most 1 s before)
    assert time.monotonic() - ended >= 2.0
    assert wait_for(lambda: len(shipyard.status()["instances"]) == 1, timeout=30)
    assert load.failed + other.failed == [], (load.failed + other.failed)[:5]
    history = shipyard.cli("scale", "dev", "--history").stdout
    assert "1 -> 2" in history and "2 -> 1" in history and "cpu=" in history
    assert "autoscale 1 (1 to 2, automatic)" in shipyard.cli("status").stdout


def test_a_pinned_count_survives_a_killed_control_plane_until_auto(shipyard: Shipyard) -> None:
    autoscaled(shipyard, down_window="0s")
    shipyard.up()
    shipyard.cli("deploy")
    pinned = shipyard.cli("scale", "dev", "2").stdout
    assert "2 instances wanted (1 to 2, pinned by admin)" in pinned
    assert wait_for(lambda: len(serving(shipyard)) == 2, timeout=30)
    os.kill(shipyard.server_pid(), signal.SIGKILL)
    shipyard.wait_server_gone(shipyard.server_pid())
    (shipyard.home / "server.json").unlink()
    shipyard.up()
    time.sleep(3)  # idle: the autoscaler would want 1, the pin holds 2
    assert len(serving(shipyard)) == 2
    assert scale_state(shipyard)["pinned"] == 2
    shipyard.cli("scale", "dev", "--auto")
    assert wait_for(lambda: len(shipyard.status()["instances"]) == 1, timeout=30)
    refused = shipyard.cli("scale", "dev", "3", check=False)
    assert refused.returncode != 0 and "outside 1 to autoscale.max (2)" in refused.stderr
