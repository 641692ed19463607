"""Long operations as jobs, and migrate plan|status locked down: real CLI, control plane and app."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
import pytest
from tests.integration.conftest import Shipyard
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration
T = TypeVar("T")


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 60) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def job(sy: Shipyard, job_id: int) -> dict[str, Any]:
    with sy.api() as api:
        return dict(api.get(f"/api/jobs/{job_id}").json())


def holding_migration(sy: Shipyard, hold: Path) -> None:
    """``migrate up`` that waits while ``hold`` exists, so a test decides when it ends."""
    sy.manifest["database"]["migrate"]["up"] = (
        f"python migrate.py up && while [ -e {hold} ]; do sleep 0.1; done"
    )
    sy.write_manifest()


def start_migrate_up(sy: Shipyard) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """``shipyard migrate up dev`` in the background, once its job runs the migration command."""
    argv = [sys.executable, "-m", "shipyard", "--home", str(sy.home), "--app-dir", str(sy.app)]
    cli = subprocess.Popen(
        [*argv, "migrate", "up", "dev"], env=sy.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )

    def migrating() -> dict[str, Any] | None:
        with sy.api() as api:
            jobs = api.get("/api/jobs", params={"env": "dev"}).json()["jobs"]
        if not jobs or jobs[0]["kind"] != "migrate.up":
            return None
        shown = job(sy, jobs[0]["id"])
        said = [line["message"] for line in shown["progress"]]
        return shown if "migrate" in said else None

    return cli, wait_for("the job's migrate step", migrating)


def migrating_job(sy: Shipyard, hold: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """A deployed app, and ``migrate up`` running as a job until ``hold`` is removed."""
    holding_migration(sy, hold)
    sy.up()
    sy.cli("deploy")
    hold.touch()
    return start_migrate_up(sy)


def read_until(stream: IO[str], ending: str, timeout: float = 60) -> str:
    """What ``stream`` printed up to and including a line ending with ``ending``."""
    lines: list[str] = []
    seen = threading.Event()

    def read() -> None:
        for line in stream:
            lines.append(line)
            if line.endswith(ending):
                seen.set()
                return

    threading.Thread(target=read, daemon=True).start()
    assert seen.wait(timeout), f"the CLI did not print a line ending {ending!r}: {''.join(lines)!r}"
    return "".join(lines)


def test_a_job_outlives_its_cli_and_ctrl_c_only_detaches(shipyard: Shipyard, tmp_path: Path) -> None:
    hold = tmp_path / "hold"
    cli, shown = migrating_job(shipyard, hold)
    job_id = shown["job"]["id"]
    assert shown["job"]["status"] == "running" and shown["job"]["requested_by"] == "admin"

    assert cli.stderr is not None
    printed = read_until(cli.stderr, " migrate\n")  # the CLI follows the job's progress as it comes
    cli.send_signal(signal.SIGINT)
    out, rest = cli.communicate(timeout=30)
    err = printed + rest
    assert cli.returncode == 130, (out, err)
    assert f"detached from job {job_id}" in err and f"`shipyard jobs show {job_id} -f`" in err, err
    assert " backup done: backup b-" in err and " migrate\n" in err  # progress lines, with their time
    assert job(shipyard, job_id)["job"]["status"] == "running"  # Ctrl-C stopped the following, not the job

    hold.unlink()
    followed = shipyard.cli("jobs", "show", str(job_id), "-f").stdout
    assert "succeeded" in followed and "migrate done:" in followed, followed
    done = job(shipyard, job_id)
    assert done["job"]["status"] == "succeeded" and done["job"]["result"]["release"] == "r1"
    assert [p["message"].split(" ")[0] for p in done["progress"]] == [
        "backup",
        "backup",
        "migrate",
        "migrate",
    ]
    assert str(job_id) in shipyard.cli("jobs", "list", "dev").stdout
    history = shipyard.cli("deployments", "dev", "--limit", "1").stdout
    assert "migrate" in history and "succeeded" in history, history

    # a job that fails: the CLI says why, and the failure is audited under the caller's name
    missing = shipyard.cli("backup", "verify", "dev", "--backup", "b-nope", check=False)
    assert missing.returncode == 1 and "Error:" in missing.stderr and "b-nope" in missing.stderr
    with shipyard.api() as api:
        entries = api.get("/api/audit", params={"limit": 50}).json()["entries"]
    verifies = [(e["actor"], e["result"]) for e in entries if e["action"] == "backup.verify"]
    assert verifies == [("admin", "ok"), ("admin", "error")], verifies


def test_a_restart_marks_the_job_it_cut_short_interrupted(shipyard: Shipyard, tmp_path: Path) -> None:
    hold = tmp_path / "hold"
    cli, shown = migrating_job(shipyard, hold)
    job_id = shown["job"]["id"]
    server = shipyard.server_pid()
    os.kill(server, signal.SIGKILL)
    shipyard.wait_server_gone(server)
    _, err = cli.communicate(timeout=60)
    assert cli.returncode == 1 and "did not answer" in err, err  # the CLI says so; nothing waits for ever
    hold.unlink()  # the orphaned migration command ends

    (shipyard.home / "server.json").unlink(missing_ok=True)
    shipyard.up()
    cut = job(shipyard, job_id)["job"]
    assert cut["status"] == "interrupted" and cut["finished_at"] is not None
    assert "interrupted" in cut["error"] and "pre-migrate backup" in cut["hint"], cut
    assert "`shipyard migrate up dev`" in cut["hint"], cut
    told = shipyard.cli("jobs", "show", str(job_id), check=False)
    assert told.returncode == 1 and "Try:" in told.stderr and "shipyard migrate up dev" in told.stderr
    assert shipyard.status()["lock"] is None  # the dead job's deploy lock was broken at start
    again = shipyard.cli("migrate", "up", "dev")
    assert "migrate up done" in again.stdout, again.stdout


def as_user(sy: Shipyard, token: str, *args: str) -> tuple[int, str]:
    done = sy.cli(*args, check=False, env={**sy.env, "SHIPYARD_TOKEN": token})
    return done.returncode, done.stdout + done.stderr


def test_migrate_plan_runs_only_for_deployers_of_the_env_and_promoted_releases(shipyard: Shipyard) -> None:
    secret = "prod-" + secrets.token_hex(12)
    shipyard.manifest["environments"]["production"] = {"port": free_port()}
    shipyard.manifest["promotion"] = {"path": ["dev", "production"]}
    migrate = shipyard.manifest["database"]["migrate"]
    migrate["plan"] = migrate["status"] = (
        "python -c \"import os; print('key=' + os.environ.get('API_KEY', ''))\""
    )
    shipyard.write_manifest()
    shipyard.up()
    shipyard.cli("secrets", "set", "production", "API_KEY", input=secret)
    shipyard.cli("deploy", "dev")
    shipyard.cli("promote", "--to", "production")  # r1 serves production
    vic = shipyard.cli("users", "add", "vic", "--role", "viewer", "--env", "production").stdout.strip()
    dora = shipyard.cli("users", "add", "dora", "--role", "deployer", "--env", "dev").stdout.strip()
    pat = shipyard.cli("users", "add", "pat", "--role", "deployer", "--env", "production").stdout.strip()
    # r2 is built, but its dev deployment fails at its migration: it never passed dev
    shipyard.use("v2")
    migrate["up"] = 'python -c "raise SystemExit(3)"'
    shipyard.write_manifest()
    assert shipyard.cli("deploy", "dev", check=False).returncode == 1
    with shipyard.api() as api:
        r2 = api.get("/api/releases").json()[0]["id"]
    assert r2 != "r1"

    # the attack as it was: a viewer's GET ran r2's plan with production's secrets
    url = f"http://127.0.0.1:{shipyard.api_port}/api/migrations/production/plan"
    old = httpx.get(url, params={"release": r2}, headers={"Authorization": f"Bearer {vic}"}, trust_env=False)
    assert old.status_code == 405 and secret not in old.text
    said = []
    for token, verb in ((vic, "plan"), (vic, "status"), (dora, "plan"), (dora, "status")):
        code, out = as_user(
            shipyard, token, "migrate", verb, "production", *(["--release", r2] if verb == "plan" else [])
        )
        said.append(out)
        assert code == 1 and "may not deploy in environment 'production'" in out, out
    code, out = as_user(shipyard, pat, "migrate", "plan", "production", "--release", r2)
    said.append(out)
    assert code == 1 and f"cannot plan {r2}'s migrations on production: {r2} must pass dev" in out, out
    assert f"`shipyard promote {r2} --to dev`" in out and "leave out --release" in out, out
    assert all(secret not in text for text in said)

    # a deployer of production plans the serving release; the secrets' read is audited as theirs
    code, out = as_user(shipyard, pat, "migrate", "plan", "production")
    assert code == 0 and "-- r1 on production" in out and f"key={secret}" in out, out
    with shipyard.api() as api:
        entries = api.get("/api/audit", params={"limit": 200}).json()["entries"]
    seen = {(e["actor"], e["action"], e["result"]) for e in entries}
    assert {("vic", "migrate.plan", "denied"), ("vic", "migrate.status", "denied")} <= seen
    assert {("dora", "migrate.plan", "denied"), ("dora", "migrate.status", "denied")} <= seen
    assert {("pat", "migrate.plan", "error"), ("pat", "migrate.plan", "ok")} <= seen
    reads = [
        (e["actor"], e["target"]) for e in entries if e["action"] == "secrets.use" and "plan" in e["target"]
    ]
    assert reads == [("pat", "migration plan production r1")], reads
