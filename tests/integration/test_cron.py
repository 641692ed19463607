"""Scheduled jobs on real processes: ``jobs:`` runs examples/notes/worker.py's report every 2
seconds (a 6-field cron expression) as a one-off command of the serving release; the runs are
in the history and the central logs; a failing run sends its ``cron.failed`` event to a real
webhook receiver and fires an alert rule on ``cron_failing``; ``cron run`` runs a job now (a
slow one is killed at its timeout); a control plane that was down runs a missed job at start."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.integration.conftest import EXAMPLE, Shipyard
from tests.integration.receivers import Hook, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def hook() -> Iterator[Hook]:
    """A real webhook receiver of the deployment (and cron) events."""
    with contextlib.closing(Hook()) as receiver:
        yield receiver


def configure(shipyard: Shipyard, hook: Hook) -> None:
    shutil.copy2(EXAMPLE / "worker.py", shipyard.app / "worker.py")
    shipyard.manifest["processes"]["web"]["instances"] = 1
    shipyard.manifest["jobs"] = {
        "report": {"command": "python worker.py report", "schedule": "* * * * * */2", "timeout": "20s"},
        "slow": {"command": "sleep 30", "schedule": "0 0 1 1 *", "timeout": "1s", "environments": ["dev"]},
    }
    shipyard.manifest["alerts"] = {
        "interval": "1s",
        "default_rules": False,
        "rules": {"ReportFailing": {"expr": "cron_failing > 0", "severity": "warning"}},
    }
    shipyard.manifest["notifications"] = {
        "receivers": {"hook": {"webhook": {"url": hook.url("/events")}}},
        "routes": [{"match": {"kind": "deployment"}, "receivers": ["hook"]}],
    }
    shipyard.write_manifest()


def runs(shipyard: Shipyard, job: str = "report") -> list[dict[str, Any]]:
    with shipyard.api() as api:
        return list(api.get("/api/cron/dev/runs", params={"job": job, "limit": 100}).json()["runs"])


def finished(shipyard: Shipyard, status: str, trigger: str = "schedule") -> list[dict[str, Any]]:
    return [r for r in runs(shipyard) if r["status"] == status and r["trigger"] == trigger]


def firing(shipyard: Shipyard) -> list[dict[str, Any]]:
    with shipyard.api() as api:
        alerts = api.get("/api/alerts").json()["alerts"]
    return [a for a in alerts if a["rule"] == "ReportFailing" and a["state"] == "firing"]


def test_a_job_runs_on_schedule_fails_alerts_and_runs_by_hand(shipyard: Shipyard, hook: Hook) -> None:
    configure(shipyard, hook)
    shipyard.up()
    shipyard.cli("deploy")
    ok = wait_for(lambda: len(r := finished(shipyard, "succeeded")) >= 2 and r, 20, "two scheduled runs")
    assert all(r["release_id"] == "r1" and r["exit_code"] == 0 for r in ok)
    assert "report r1: 0 notes" in ok[0]["output"]
    assert all(r["scheduled_at"] % 2 == 0 for r in ok)  # its fire times, every 2 seconds
    assert ok[0]["scheduled_at"] - ok[1]["scheduled_at"] >= 2
    listed = shipyard.cli("cron", "list", "dev").stdout
    assert "report" in listed and "* * * * * */2" in listed and "last succeeded" in listed
    assert "report" in shipyard.cli("cron", "history", "dev", "report").stdout
    lines = wait_for(
        lambda: shipyard.cli("logs", "dev", "--grep", "report r1").stdout.strip(), 15, "the runs in the logs"
    )
    assert "cron-report" in lines

    cue = shipyard.home / "envs" / "dev" / "data" / "fail-report"
    cue.write_text("fail")
    failed = wait_for(lambda: finished(shipyard, "failed"), 15, "a failed run")[0]
    assert failed["exit_code"] == 3 and "failing on purpose" in failed["output"]
    event = wait_for(
        lambda: [b for b in hook.bodies("/events") if b.get("event") == "cron.failed"],
        15,
        "the cron.failed event",
    )[0]
    assert event["job"] == "report" and event["env"] == "dev" and "exit status 3" in event["reason"]
    assert wait_for(lambda: firing(shipyard), 20, "the cron_failing alert")[0]["labels"]["env"] == "dev"
    by_hand = shipyard.cli("cron", "run", "dev", "report", check=False)
    assert by_hand.returncode == 1 and "failed" in by_hand.stdout + by_hand.stderr

    cue.unlink()
    again = shipyard.cli("cron", "run", "dev", "report")
    assert "report r1: 0 notes" in again.stdout and "succeeded" in again.stdout
    assert [r for r in runs(shipyard) if r["trigger"] == "manual" and r["requested_by"] == "admin"]
    wait_for(lambda: not firing(shipyard), 20, "the alert resolved by a good run")

    slow = shipyard.cli("cron", "run", "dev", "slow", check=False)
    assert slow.returncode == 1 and "timed_out" in slow.stdout
    timed_out = runs(shipyard, "slow")[0]
    assert timed_out["status"] == "timed_out" and timed_out["exit_code"] is None
    assert timed_out["finished_at"] - timed_out["started_at"] < 10
    assert wait_for(
        lambda: [b for b in hook.bodies("/events") if b.get("event") == "cron.timed_out"],
        15,
        "timed_out event",
    )


def test_a_missed_run_runs_once_at_start(shipyard: Shipyard, hook: Hook) -> None:
    configure(shipyard, hook)
    shipyard.up()
    shipyard.cli("deploy")
    wait_for(lambda: finished(shipyard, "succeeded"), 20, "a scheduled run")
    pid = shipyard.server_pid()
    os.kill(pid, signal.SIGKILL)
    shipyard.wait_server_gone(pid)
    time.sleep(5)  # at least two fire times pass while the control plane is down
    shipyard.up()
    missed = wait_for(lambda: finished(shipyard, "succeeded", "missed"), 15, "the missed run")
    assert len(missed) == 1  # once, however many fire times were missed
    wait_for(lambda: len(finished(shipyard, "succeeded")) >= 2, 15, "the schedule going on")
