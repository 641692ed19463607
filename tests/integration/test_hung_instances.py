"""The liveness rule on real processes: instances of examples/notes/hung whose /health stops
answering (the process alive, its event loop blocked) are stopped and started again in their
slots after ``health.restart_after``, and serve again; the hung processes are gone."""

from __future__ import annotations

import time
from typing import Any

import httpx
import psutil
import pytest
from tests.integration.conftest import Shipyard
from tests.integration.receivers import wait_for

pytestmark = pytest.mark.integration


def instances(shipyard: Shipyard) -> dict[str, dict[str, Any]]:
    return {i["name"]: i for i in shipyard.status()["instances"]}


def replaced(shipyard: Shipyard, before: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]] | None:
    """The instances, once each runs as a new live process; None before."""
    now = instances(shipyard)
    fresh = all(now[n]["pid"] != b["pid"] and now[n]["alive"] for n, b in before.items())
    return now if fresh else None


def answers(shipyard: Shipyard) -> str | None:
    """The version the environment's address serves, or None while it does not answer."""
    try:
        return str(shipyard.serving()["version"])
    except (AssertionError, httpx.HTTPError):
        return None


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_hung_instance_is_replaced_after_restart_after(shipyard: Shipyard) -> None:
    shipyard.use("hung")
    shipyard.manifest["health"]["restart_after"] = "3s"
    shipyard.manifest["strategy"]["blue_green"]["stop_timeout"] = "1s"
    shipyard.write_manifest()
    shipyard.up()
    shipyard.cli("deploy")
    assert shipyard.serving()["version"] == "1.1.0"
    before = instances(shipyard)
    cue = shipyard.home / "envs" / "dev" / "data" / "hang"
    cue.write_text("hang")
    written = time.monotonic()
    now = wait_for(lambda: replaced(shipyard, before), 20, "both hung instances replaced")
    assert time.monotonic() - written >= 3.0  # never before restart_after of failing probes
    assert all(now[n]["restarts"] == b["restarts"] + 1 for n, b in before.items())
    cue.unlink()
    assert wait_for(lambda: answers(shipyard), 10, "the replacements serving") == "1.1.0"
    assert all(gone(b["pid"]) for b in before.values())
    assert "not answering /health for" in shipyard.cli("status").stderr  # the reconciler's note
    with shipyard.api() as api:
        history = api.get("/api/health/dev/history").json()["history"]
    assert any(h["detail"].startswith("replaced: not answering /health") for h in history), history
