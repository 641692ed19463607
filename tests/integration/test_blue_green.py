"""Blue-green deploys and rollbacks end to end: real CLI, control plane, HAProxy, uvicorn."""

from __future__ import annotations

import time

import httpx
import pytest
from tests.integration.conftest import Load, Shipyard

pytestmark = pytest.mark.integration


def test_deploy_switch_and_instant_rollback_without_failed_requests(shipyard: Shipyard) -> None:
    shipyard.up()
    out = shipyard.cli("deploy").stdout
    for step in ("build", "prepare", "start", "health", "smoke", "switch", "drain"):
        assert f"✓ {step}" in out, out
    assert shipyard.serving()["version"] == "1.0.0"
    with Load(shipyard.port) as load:
        shipyard.use("v2")
        shipyard.cli("deploy")
        assert shipyard.serving() | {"colour": None} == {
            "app": "notes",
            "version": "2.0.0",
            "release": "r2",
            "colour": None,
        }
        status = shipyard.status()
        assert (status["active_colour"], status["standby_colour"]) == ("green", "blue")
        assert status["standby_release"] == "r1"
        proxy = shipyard.home / "proxy"
        config, colours = (proxy / "haproxy.cfg").stat(), (proxy / "colours.map").stat()
        rolled = shipyard.cli("rollback").stdout
        assert "traffic back on blue (r1)" in rolled
        # a map change: the colours map is replaced (for a restarted HAProxy), the config is not
        assert (proxy / "haproxy.cfg").stat().st_ino == config.st_ino
        assert (proxy / "colours.map").stat().st_ino != colours.st_ino
        assert "dev.active blue" in (proxy / "colours.map").read_text()
        assert shipyard.serving()["version"] == "1.0.0"
        shipyard.cli("rollback", "--to", "r2")  # forward again: green still runs
        assert shipyard.serving()["version"] == "2.0.0"
        time.sleep(0.5)
    assert load.failed == []
    assert load.ok > 50
    assert load.versions == {"1.0.0", "2.0.0"}
    history = shipyard.cli("deployments").stdout
    assert "#4" in history and "rollback" in history and "switch" in history


def test_release_is_immutable_and_cached(shipyard: Shipyard) -> None:
    shipyard.up()
    shipyard.cli("deploy")
    shipyard.use("v2")
    shipyard.cli("deploy")
    with shipyard.api() as api:
        releases = api.get("/api/releases").json()
    assert [r["id"] for r in releases] == ["r2", "r1"]
    assert releases[0]["deps_hash"] == releases[1]["deps_hash"]  # same requirements: cached venv
    assert releases[0]["checksum"] != releases[1]["checksum"]
    app_py = shipyard.home / "releases" / "r1" / "app" / "app.py"
    assert "1.0.0" in app_py.read_text()
    assert app_py.stat().st_mode & 0o222 == 0  # no write bit for anyone


def test_rollback_after_the_window_restarts_the_old_release(shipyard: Shipyard) -> None:
    shipyard.manifest["strategy"]["blue_green"]["rollback_window"] = "1s"
    shipyard.write_manifest()
    shipyard.up()
    shipyard.cli("deploy")
    shipyard.use("v2")
    shipyard.cli("deploy")
    deadline = time.monotonic() + 15
    while shipyard.status()["standby_colour"] is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    status = shipyard.status()
    assert status["standby_colour"] is None
    assert {i["name"][:4] for i in status["instances"]} == {"gree"}  # blue stopped
    out = shipyard.cli("rollback").stdout
    assert "✓ health" in out  # went through the health gate again
    assert shipyard.serving()["release"] == "r1"


def test_second_deploy_is_refused_while_one_runs(shipyard: Shipyard) -> None:
    shipyard.up()
    shipyard.cli("deploy")
    shipyard.use("broken")  # slow to fail: holds the lock for start_timeout
    first = shipyard.cli("deploy", "--no-wait")
    assert "deployment 2" in first.stdout
    second = shipyard.cli("deploy", check=False)
    assert second.returncode == 1
    assert "locked: admin holds it since" in second.stderr
    assert "shipyard lock break dev" in second.stderr
    assert shipyard.serving()["version"] == "1.0.0"


def test_api_requires_token_and_answers_json_errors(shipyard: Shipyard) -> None:
    shipyard.up()
    base = f"http://127.0.0.1:{shipyard.api_port}"
    resp = httpx.get(f"{base}/api/status", trust_env=False)
    assert resp.status_code == 401
    assert resp.json() == {
        "ok": False,
        "error": "missing API token",
        "hint": resp.json()["hint"],
        "status": 401,
        "kind": "AuthError",
    }
    bad = httpx.get(f"{base}/api/status", headers={"Authorization": "Bearer nope"}, trust_env=False)
    assert bad.status_code == 401
    token_file = shipyard.home / "token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    with shipyard.api() as api:
        missing = api.post("/api/deploy", json={"env": "nope"})
    assert missing.status_code == 404
    assert "environment 'nope' is not in shipyard.yaml" in missing.json()["error"]


def test_failed_deploy_keeps_the_standby_release_for_an_instant_rollback(shipyard: Shipyard) -> None:
    shipyard.up()
    shipyard.cli("deploy")
    shipyard.use("v2")
    shipyard.cli("deploy")
    before = shipyard.status()
    assert (before["active_colour"], before["standby_release"]) == ("green", "r1")
    v1 = {i["name"]: i["pid"] for i in before["instances"] if i["release"] == "r1"}
    assert sorted(v1) == ["blue-0", "blue-1"]

    shipyard.manifest["health"]["start_timeout"] = "5s"
    shipyard.write_manifest()
    shipyard.use("broken")  # r3 starts beside r1 on blue and never becomes healthy
    failed = shipyard.cli("deploy", check=False)
    assert failed.returncode == 1 and "did not become healthy" in failed.stderr
    after = shipyard.status()
    assert (after["active_release"], after["standby_colour"], after["standby_release"]) == (
        "r2",
        "blue",
        "r1",
    )
    kept = {i["name"]: i["pid"] for i in after["instances"] if i["release"] == "r1"}
    assert kept == v1  # never restarted
    assert {i["release"] for i in after["instances"]} == {"r1", "r2"}  # r3 stopped
    assert all(i["proxy_status"].startswith("UP") for i in after["instances"]), after["instances"]

    with Load(shipyard.port) as load:
        rolled = shipyard.cli("rollback").stdout
        assert "traffic back on blue (r1)" in rolled and "health" not in rolled  # one map change
        assert shipyard.serving()["release"] == "r1"
        time.sleep(0.3)
    assert load.failed == []
    assert {i["name"]: i["pid"] for i in shipyard.status()["instances"] if i["release"] == "r1"} == v1
