"""Central logs on a real Shipyard: the example app's output and HAProxy's access lines are
searchable with `shipyard logs`, a SIGKILLed control plane neither loses nor repeats a line
when it comes back, and retention archives old lines then deletes the archives.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from tests.integration.conftest import Shipyard
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration


def _get(sy: Shipyard, path: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{sy.port}{path}", timeout=5, trust_env=False)


def _export(sy: Shipyard, *args: str) -> list[dict[str, Any]]:
    out = sy.cli("logs", "export", "dev", *args).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def _wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if got := check():
            return got
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout:g}s")


def _stats(sy: Shipyard) -> dict[str, Any]:
    with sy.api() as api:
        return dict(api.get("/api/logs").json())


def _with_uvicorn_access_log(sy: Shipyard) -> None:
    """Let uvicorn log every request (its own access log, on stdout): the app's output."""
    web = sy.manifest["processes"]["web"]
    web["command"] = web["command"].replace(" --no-access-log", "")
    sy.write_manifest()


def test_app_output_and_access_lines_are_searchable(shipyard: Shipyard) -> None:
    shipyard.up()
    shipyard.cli("deploy")
    assert _get(shipyard, "/no-such-page-xyz").status_code == 404
    for _ in range(3):
        assert _get(shipyard, "/").status_code == 200

    found = _wait(
        lambda: shipyard.cli("logs", "dev", "--grep", "no-such-page").stdout.strip(),
        10,
        "the access line was not searchable",
    )
    assert "GET /no-such-page-xyz 404" in found and " access " in found and "warn" in found
    started = shipyard.cli("logs", "dev", "--grep", "Started server process", "--release", "r1").stdout
    assert started.count("Started server process") == 2  # both instances, on stderr
    assert " stderr " in started
    assert shipyard.cli("logs", "dev", "--grep", "Started server", "--release", "r9").stdout.strip() == ""
    warned = shipyard.cli("logs", "dev", "--level", "warn").stdout
    assert "no-such-page-xyz" in warned and "GET / 200" not in warned

    lines = _export(shipyard, "--since", "10m")
    streams = Counter(line["stream"] for line in lines)
    assert streams["access"] >= 4 and streams["stderr"] >= 2 and streams["stdout"] >= 2
    access = [line for line in lines if line["stream"] == "access"]
    assert {line["release"] for line in access} == {"r1"}
    assert {line["instance"] for line in access} <= {"blue-0", "blue-1"}

    stats = shipyard.cli("logs", "stats").stdout
    assert "0 cold archive(s)" in stats and "0 old lines and 0 access lines dropped" in stats

    bad = shipyard.cli("logs", "dev", "--since", "a while", check=False)
    assert bad.returncode == 1 and "not a time" in bad.stderr and "Try:" in bad.stderr


def test_reading_logs_needs_a_token_with_read_on_the_environment(shipyard: Shipyard) -> None:
    shipyard.manifest["environments"]["staging"] = {"port": free_port()}
    shipyard.write_manifest()
    shipyard.up()
    token = shipyard.cli("users", "add", "eve", "--role", "viewer", "--env", "staging").stdout.strip()
    url = f"http://127.0.0.1:{shipyard.api_port}/api/logs"
    as_eve = {"Authorization": f"Bearer {token}"}
    with httpx.Client(trust_env=False, timeout=10) as http:
        assert http.get(f"{url}/dev").status_code == 401
        assert http.get(f"{url}/dev", headers=as_eve).status_code == 403
        assert http.get(f"{url}/dev/export", headers=as_eve).status_code == 403
        assert http.get(f"{url}/staging", headers=as_eve).json()["lines"] == []
    denied = shipyard.cli("logs", "dev", env={**shipyard.env, "SHIPYARD_TOKEN": token}, check=False)
    assert denied.returncode == 1 and "Error:" in denied.stderr


def test_a_killed_control_plane_neither_loses_nor_repeats_lines(shipyard: Shipyard) -> None:
    _with_uvicorn_access_log(shipyard)
    shipyard.up()
    shipyard.cli("deploy")
    for i in range(50):
        assert _get(shipyard, f"/?probe=before-{i}").status_code == 200
    _wait(lambda: len(_probes(shipyard, "before")) == 50, 15, "50 lines before the kill were not stored")

    pid = shipyard.server_pid()
    os.kill(pid, signal.SIGKILL)
    shipyard.wait_server_gone(pid)
    for i in range(50):  # the instances keep serving and logging to their files meanwhile
        assert _get(shipyard, f"/?probe=during-{i}").status_code == 200

    shipyard.up()
    _wait(lambda: len(_probes(shipyard, "during")) >= 50, 20, "lines written while down were not read")
    time.sleep(1)  # a few more passes of the ingester
    before, during = _probes(shipyard, "before"), _probes(shipyard, "during")
    assert sorted(before) == sorted(f"before-{i}" for i in range(50))  # each exactly once
    assert sorted(during) == sorted(f"during-{i}" for i in range(50))


def _probes(sy: Shipyard, phase: str) -> list[str]:
    """The probe ids in the app's own (uvicorn) access lines, one per stored line."""
    found = []
    for line in _export(sy, "--grep", f"probe={phase}"):
        if line["stream"] == "stdout" and "probe=" in line["message"]:
            found.append(line["message"].split("probe=")[1].split()[0])
    return found


def test_retention_archives_old_lines_then_deletes_the_archives(shipyard: Shipyard) -> None:
    shipyard.manifest["logs"] = {"hot": "2s", "cold": "12s"}
    shipyard.write_manifest()
    shipyard.up()
    shipyard.cli("deploy")
    for _ in range(5):
        assert _get(shipyard, "/retained-page").status_code == 404

    _wait(lambda: _stats(shipyard)["archives"] > 0, 15, "no cold archive was written")
    _wait(
        lambda: not shipyard.cli("logs", "dev", "--grep", "retained-page").stdout.strip(),
        10,
        "archived lines were still in the hot store",
    )
    cold = [line for line in _export(shipyard) if "retained-page" in line["message"]]
    assert len(cold) == 5  # export reads the cold archives
    archives = sorted((shipyard.home / "logs-archive" / "dev").glob("*.jsonl.zst"))
    assert archives

    _wait(lambda: not any(p.exists() for p in archives), 30, "archives past cold were not deleted")
    assert not [line for line in _export(shipyard) if "retained-page" in line["message"]]
    assert _stats(shipyard)["errors"] == []
