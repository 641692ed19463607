"""Workers on real processes: examples/notes/worker.py as ``processes.worker`` is started with
each release, replaced by a deploy (the old one stopped with SIGTERM after the switch), restored
by a rollback, restarted after a crash, adopted by a restarted control plane, and its output is
in the central logs under its name; a worker that dies at start fails the deploy."""

from __future__ import annotations

import os
import shutil
import signal
from typing import Any

import psutil
import pytest
from tests.integration.conftest import EXAMPLE, Shipyard
from tests.integration.receivers import wait_for

pytestmark = pytest.mark.integration


def with_worker(shipyard: Shipyard, command: str = "python worker.py") -> None:
    shutil.copy2(EXAMPLE / "worker.py", shipyard.app / "worker.py")
    shipyard.manifest["processes"]["worker"] = {"command": command, "settle": "500ms"}
    shipyard.manifest["processes"]["web"]["instances"] = 1
    shipyard.manifest["env"] = {"NOTES_WORKER_EVERY": "0.2"}
    shipyard.manifest["strategy"]["blue_green"]["stop_timeout"] = "2s"
    shipyard.write_manifest()


def workers(shipyard: Shipyard) -> list[dict[str, Any]]:
    return list(shipyard.status()["workers"])


def only(shipyard: Shipyard, release: str) -> dict[str, Any] | None:
    """The one live worker, once it is ``release``'s and the only one; None before."""
    now = workers(shipyard)
    return now[0] if len(now) == 1 and now[0]["release"] == release and now[0]["alive"] else None


def worker_processes(shipyard: Shipyard) -> list[int]:
    """The pids of the live worker process groups' leaders of this home."""
    found = []
    for proc in shipyard.processes():
        try:
            if "worker.py" in " ".join(proc.cmdline()) and os.getpgid(proc.pid) == proc.pid:
                found.append(proc.pid)
        except (psutil.Error, ProcessLookupError):
            continue  # gone meanwhile
    return found


def test_workers_follow_deploys_and_rollbacks(shipyard: Shipyard) -> None:
    with_worker(shipyard)
    shipyard.up()
    shipyard.cli("deploy")
    first = only(shipyard, "r1")
    assert first is not None and first["name"] == "worker-blue-0" and first["process"] == "worker"
    steps = shipyard.cli("deployments").stdout
    assert "r1" in steps

    shipyard.use("v2")
    shipyard.cli("deploy")
    second = wait_for(lambda: only(shipyard, "r2"), 10, "r2's worker alone")
    assert second["name"] == "worker-green-0" and second["pid"] != first["pid"]
    old_log = (shipyard.home / "envs" / "dev" / "logs" / "worker-blue-0.log").read_text()
    assert "worker r1 tick" in old_log and "worker r1 stopping after SIGTERM" in old_log  # graceful

    shipyard.cli("rollback")
    back = wait_for(lambda: only(shipyard, "r1"), 10, "r1's worker restored by the rollback")
    assert back["name"] == "worker-blue-0"
    assert worker_processes(shipyard) == [back["pid"]]

    os.killpg(back["pid"], signal.SIGKILL)  # a crash: restarted with backoff in its slot
    restarted = wait_for(
        lambda: (w := only(shipyard, "r1")) and w["pid"] != back["pid"] and w, 15, "the worker restarted"
    )
    assert restarted["restarts"] == 1

    found = wait_for(
        lambda: shipyard.cli("logs", "dev", "--grep", "tick", "--release", "r2").stdout.strip(),
        15,
        "r2's worker lines in the central logs",
    )
    assert "worker-green-0" in found and "worker r2 tick" in found


def test_a_restarted_control_plane_adopts_its_workers(shipyard: Shipyard) -> None:
    with_worker(shipyard)
    shipyard.up()
    shipyard.cli("deploy")
    before = only(shipyard, "r1")
    assert before is not None
    pid = shipyard.server_pid()
    os.kill(pid, signal.SIGKILL)
    shipyard.wait_server_gone(pid)
    shipyard.up()
    after = wait_for(lambda: only(shipyard, "r1"), 10, "the worker adopted")
    assert after["pid"] == before["pid"] and after["restarts"] == 0
    assert worker_processes(shipyard) == [before["pid"]]  # no duplicate, no orphan


def test_a_worker_that_dies_at_start_fails_the_deploy_and_the_old_ones_keep_running(
    shipyard: Shipyard,
) -> None:
    with_worker(shipyard)
    shipyard.up()
    shipyard.cli("deploy")
    serving = only(shipyard, "r1")
    assert serving is not None
    shipyard.use("v2")
    with_worker(shipyard, "python -c 'raise SystemExit(\"no queue configured\")'")
    done = shipyard.cli("deploy", check=False)
    assert done.returncode != 0
    assert "worker worker-green-0 of r2 stopped" in done.stdout + done.stderr
    assert "no queue configured" in done.stdout + done.stderr
    assert shipyard.serving()["release"] == "r1"
    assert wait_for(lambda: only(shipyard, "r1"), 10, "r1's worker alone") == serving | {"state": "running"}


def test_a_control_plane_killed_after_the_workers_step_converges_on_the_serving_release(
    shipyard: Shipyard,
) -> None:
    with_worker(shipyard)
    shipyard.up()
    shipyard.cli("deploy")
    serving = only(shipyard, "r1")
    assert serving is not None
    shipyard.cli("down", "--keep-apps")
    shipyard.up(SHIPYARD_FAILPOINT="after:workers")
    pid = shipyard.server_pid()
    shipyard.use("v2")
    assert shipyard.cli("deploy", check=False).returncode == 1  # the server killed itself there
    shipyard.wait_server_gone(pid)
    assert len(worker_processes(shipyard)) == 2  # r2's started beside r1's, then the kill
    shipyard.up()
    kept = wait_for(lambda: only(shipyard, "r1"), 15, "r2's worker stopped, r1's kept")
    assert kept["pid"] == serving["pid"]
    wait_for(lambda: worker_processes(shipyard) == [serving["pid"]], 10, "no leftover worker process")
