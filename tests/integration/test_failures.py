"""Bad input and faults: each ends in one clear error and the serving version keeps serving."""

from __future__ import annotations

import os
import signal
import socket
import time

import psutil
import pytest
from tests.integration.conftest import Shipyard

pytestmark = pytest.mark.integration


def deployed_v1(shipyard: Shipyard) -> None:
    shipyard.up()
    shipyard.cli("deploy")
    assert shipyard.serving()["version"] == "1.0.0"


def failed_deploy(shipyard: Shipyard) -> str:
    done = shipyard.cli("deploy", check=False)
    assert done.returncode == 1, done.stdout
    assert shipyard.serving()["version"] == "1.0.0"
    live = {i["name"] for i in shipyard.status()["instances"]}
    assert all(name.startswith("blue-") for name in live), live  # failed colour stopped
    return done.stderr


def test_broken_version_never_healthy_is_refused(shipyard: Shipyard) -> None:
    deployed_v1(shipyard)
    shipyard.manifest["health"]["start_timeout"] = "3s"
    shipyard.write_manifest()
    shipyard.use("broken")
    err = failed_deploy(shipyard)
    assert "did not become healthy within 3s" in err
    assert "answered 503" in err
    assert "Try: see its output with `shipyard logs dev`" in err


def test_command_that_exits_at_once_fails_the_deploy(shipyard: Shipyard) -> None:
    deployed_v1(shipyard)
    shipyard.manifest["processes"]["web"]["command"] = "echo boom >&2; exit 3"
    shipyard.manifest["strategy"]["blue_green"]["max_restarts"] = 1
    shipyard.write_manifest()
    err = failed_deploy(shipyard)
    assert "keeps crashing" in err
    assert "boom" in err


def test_invalid_manifest_is_rejected_before_anything_starts(shipyard: Shipyard) -> None:
    deployed_v1(shipyard)
    shipyard.manifest["health"]["intervall"] = "1s"
    shipyard.write_manifest()
    err = failed_deploy(shipyard)
    assert "health.intervall: unknown key 'intervall'; did you mean 'interval'?" in err
    assert "Try: rename" in err


def test_failed_dependency_install(shipyard: Shipyard) -> None:
    deployed_v1(shipyard)
    (shipyard.app / "requirements.txt").write_text("shipyard-no-such-package-xyz==9.9.9\n")
    err = failed_deploy(shipyard)
    assert "dependency install failed" in err
    assert "shipyard-no-such-package-xyz" in err


def test_public_port_taken_is_a_clear_error(shipyard: Shipyard) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", shipyard.port))
        squatter.listen()
        done = shipyard.cli("up", "--api-port", str(shipyard.api_port), check=False)
    assert done.returncode == 1
    assert "HAProxy exited at start" in done.stderr
    assert "port may be taken" in done.stderr


def test_haproxy_missing_is_a_clear_error(shipyard: Shipyard) -> None:
    env = {**shipyard.env, "SHIPYARD_HAPROXY": "/nonexistent/haproxy"}
    done = shipyard.cli("up", "--api-port", str(shipyard.api_port), check=False, env=env)
    assert done.returncode == 1
    assert "HAProxy is not installed" in done.stderr
    assert "apt-get install -y haproxy" in done.stderr


def test_crashed_instance_is_restarted_with_backoff(shipyard: Shipyard) -> None:
    deployed_v1(shipyard)
    victim = shipyard.status()["instances"][0]
    os.killpg(victim["pid"], signal.SIGKILL)
    for _ in range(20):  # the other instance and HAProxy's retries keep serving
        assert shipyard.serving()["version"] == "1.0.0"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        now = {i["name"]: i for i in shipyard.status()["instances"]}[victim["name"]]
        if now["pid"] != victim["pid"] and now["alive"]:
            break
        time.sleep(0.2)
    assert now["pid"] != victim["pid"] and now["alive"]
    assert now["restarts"] == 1


def test_haproxy_killed_is_restarted_with_current_routing(shipyard: Shipyard) -> None:
    deployed_v1(shipyard)
    shipyard.use("v2")
    shipyard.cli("deploy")
    master = next(p for p in shipyard.processes() if "haproxy" in p.name())
    os.killpg(master.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if shipyard.serving()["version"] == "2.0.0":
                break
        except Exception:
            time.sleep(0.1)
    for _ in range(20):
        assert shipyard.serving()["version"] == "2.0.0"
    assert master.pid not in [p.pid for p in shipyard.processes()]


def test_down_leaves_no_process(shipyard: Shipyard) -> None:
    deployed_v1(shipyard)
    assert len(shipyard.processes()) >= 3  # HAProxy and two instances
    shipyard.cli("down")
    time.sleep(0.3)
    assert [p for p in shipyard.processes() if p.status() != psutil.STATUS_ZOMBIE] == []
