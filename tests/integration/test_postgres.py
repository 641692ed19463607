"""Managed PostgreSQL end to end: real CLI, control plane, app (psycopg), PostgreSQL 15.

The notes app on PostgreSQL (examples/pgnotes) is deployed with `database: {engine:
postgres, managed: true, backups: {continuous: true}}`: Shipyard creates the cluster,
streams its WAL, backs it up, verifies on a scratch cluster, restores to a point in time.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from tests.integration.conftest import Shipyard

from shipyard.drivers.data.postgres.programs import find_bin_dir
from shipyard.errors import DatabaseError

try:
    find_bin_dir()
    MISSING = ""
except DatabaseError as exc:
    MISSING = exc.message

pytestmark = [pytest.mark.integration, pytest.mark.skipif(bool(MISSING), reason=MISSING)]


@pytest.fixture
def pg(shipyard: Shipyard) -> Iterator[Shipyard]:
    with shipyard.home_outside_tmp("shipyard-pg-"):
        shipyard.use_pgnotes(
            {
                "engine": "postgres",
                "managed": True,
                "migrate": {
                    "up": "python migrate.py up",
                    "status": "python migrate.py status",
                    "plan": "python migrate.py plan",
                },
                "backups": {"continuous": True, "verify_schedule": None},
            }
        )
        yield shipyard


def postmaster(sy: Shipyard) -> int:
    pid_file = sy.home / "envs" / "dev" / "data" / "pg" / "data" / "postmaster.pid"
    return int(pid_file.read_text().split()[0])


def wait_for(what: str, check: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_managed_postgres_backup_pitr_verify_and_damage(pg: Shipyard) -> None:
    pg.up()
    out = pg.cli("deploy").stdout
    assert "✓ database" in out and "✓ migrate" in out, out
    cluster = json.loads((pg.home / "envs" / "dev" / "data" / "pg" / "cluster.json").read_text())
    assert (pg.home / "envs" / "dev" / "data" / "pg" / "cluster.json").stat().st_mode & 0o777 == 0o600
    assert psutil.Process(postmaster(pg)).username() != "root"
    pg.add_note("one")
    assert pg.notes() == ["one"]  # DATABASE_URL reached the app and the migration

    # continuous WAL: a base backup, then the window's end follows the writes
    wait_for("a continuous base", lambda: any(b["kind"] == "continuous" for b in pg.backups()))
    pg.add_note("two")
    time.sleep(1.5)
    between = time.time()
    time.sleep(1.0)
    pg.add_note("three")
    after_three = time.time()

    def window_passed() -> bool:
        ends = [float(str(b["recoverable_to"])) for b in pg.backups() if b["kind"] == "continuous"]
        return any(end > after_three + 1.0 for end in ends)

    wait_for("the window to pass the last write", window_passed)
    base = next(b for b in pg.backups() if b["kind"] == "continuous")
    stored = pg.home / "backups" / "dev" / str(base["id"]) / "base.tar.zst.enc"
    assert stored.read_bytes()[:4] == b"SYBK" and b"PG_VERSION" not in stored.read_bytes()
    assert list((stored.parent / "wal").iterdir()), "no WAL was shipped"

    # a moment inside the window but after the last commit: the WAL holds no commit past it,
    # where PostgreSQL would stop with "recovery ended before configured recovery target"
    latest = pg.cli("backup", "restore", "dev", "--to-time", f"{after_three + 0.5:.3f}").stdout
    assert f"restored {base['id']} as of" in latest, latest
    assert pg.notes() == ["one", "two", "three"]

    # point-in-time restore to a moment between "two" and "three"
    restored = pg.cli("backup", "restore", "dev", "--to-time", f"{between:.3f}").stdout
    assert f"restored {base['id']} as of" in restored and "into dev" in restored, restored
    assert pg.notes() == ["one", "two"]
    pg.add_note("after the restore")  # the restored database is writable (promoted)

    # a manual backup, verified on a scratch cluster, then the latest state restored
    backup_id = pg.cli("backup", "create", "dev").stdout.split()[1]
    pg.add_note("not in the backup")
    verified = pg.cli("backup", "verify", "dev", "--backup", backup_id).stdout
    assert "pg_amcheck ok" in verified, verified
    assert pg.notes() == ["one", "two", "after the restore", "not in the backup"]  # live one untouched
    pg.cli("backup", "restore", "dev", "--backup", backup_id)
    assert pg.notes() == ["one", "two", "after the restore"]

    # outside the window: refused, nothing replaced
    refused = pg.cli("backup", "restore", "dev", "--to-time", "1000000000", check=False)
    assert refused.returncode == 1 and "outside the recoverable window" in refused.stderr, refused.stderr

    # a damaged base backup: verify fails, restore refuses, the live database stays
    target = pg.home / "backups" / "dev" / backup_id / "base.tar.zst.enc"
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    target.write_bytes(bytes(raw))
    failed = pg.cli("backup", "verify", "dev", "--backup", backup_id, check=False)
    assert failed.returncode == 1 and "failed verification" in failed.stderr, failed.stderr
    refused = pg.cli("backup", "restore", "dev", "--backup", backup_id, check=False)
    assert refused.returncode == 1 and "does not authenticate" in refused.stderr, refused.stderr
    assert pg.notes() == ["one", "two", "after the restore"]
    assert (
        cluster["port"]
        == json.loads((pg.home / "envs" / "dev" / "data" / "pg" / "cluster.json").read_text())["port"]
    )


def test_cluster_outlives_a_killed_control_plane_and_stops_at_down(pg: Shipyard) -> None:
    pg.manifest["database"]["backups"]["continuous"] = False
    pg.write_manifest()
    pg.up()
    pg.cli("deploy")
    pg.add_note("kept")
    backup_id = pg.cli("backup", "create", "dev").stdout.split()[1]
    pid = postmaster(pg)
    server = pg.server_pid()
    os.kill(server, signal.SIGKILL)
    pg.wait_server_gone(server)
    assert psutil.pid_exists(pid)
    (pg.home / "server.json").unlink(missing_ok=True)
    pg.up(SHIPYARD_BACKUP_KEY=base64.b64encode(b"k" * 32).decode())  # not the backup's key
    assert postmaster(pg) == pid  # adopted, not restarted
    assert pg.notes() == ["kept"]
    health = httpx.get(f"http://127.0.0.1:{pg.api_port}/health", timeout=10, trust_env=False).json()
    checks = [c for entries in health["checks"].values() for c in entries]
    database = next(c for c in checks if c.get("componentId") == "dev/postgres")
    assert database["status"] == "pass" and database["observedUnit"] == "ms", database
    refused = pg.cli("backup", "restore", "dev", "--backup", backup_id, check=False)
    assert refused.returncode == 1 and "was encrypted with backup key" in refused.stderr, refused.stderr
    assert postmaster(pg) == pid and pg.notes() == ["kept"]  # nothing was stopped or replaced
    pg.cli("deploy")  # a second deploy keeps the same cluster and data
    assert postmaster(pg) == pid and pg.notes() == ["kept"]
    pg.cli("down")
    wait_for("the cluster to stop", lambda: not psutil.pid_exists(pid), 20)

    # the machine's data folder is lost: the backup brings back the cluster, its record too
    shutil.rmtree(pg.home / "envs" / "dev" / "data" / "pg")
    pg.up()
    pg.cli("backup", "restore", "dev", "--backup", backup_id)
    assert psql(pg, "SELECT string_agg(text, ',') FROM notes") == "kept"


FAILING_MIGRATION = (
    "python -c \"import os, psycopg; c = psycopg.connect(os.environ['DATABASE_URL'], autocommit=True); "
    "c.execute(\\\"INSERT INTO notes (text, created_at) VALUES ('half-done', now())\\\"); "
    'raise SystemExit(3)"'
)


def test_failed_migration_restores_the_postgres_backup_taken_first(pg: Shipyard) -> None:
    pg.manifest["database"]["backups"]["continuous"] = False
    pg.write_manifest()
    pg.up()
    pg.cli("deploy")
    pg.add_note("before")
    serving = pg.serving()
    plan = pg.cli("migrate", "plan", "dev").stdout  # the PostgreSQL example's plan: nothing pending
    assert "-- schema version 1; 0 pending" in plan, plan
    pg.manifest["database"]["migrate"]["up"] = FAILING_MIGRATION
    pg.write_manifest()
    done = pg.cli("deploy", check=False)
    assert done.returncode != 0 and "exited with 3" in done.stdout + done.stderr, done.stdout + done.stderr
    assert pg.notes() == ["before"]  # the half-done write was undone by restoring the backup
    assert pg.serving() == serving
    kinds = [(b["kind"], b["engine"]) for b in pg.backups()]
    assert ("pre-migrate", "postgres") in kinds and ("pre-restore", "postgres") in kinds, kinds


def psql(sy: Shipyard, sql: str) -> str:
    cluster = json.loads((sy.home / "envs" / "dev" / "data" / "pg" / "cluster.json").read_text())
    env = {**os.environ, "PGPASSWORD": cluster["superuser_password"]}
    argv = [str(find_bin_dir() / "psql"), "-X", "-A", "-t", "-h", "127.0.0.1", "-p", str(cluster["port"])]
    done = subprocess.run(
        [*argv, "-U", "postgres", "-c", sql, "app"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_missing_wal_segment_is_refused_before_anything_is_touched(pg: Shipyard) -> None:
    pg.up()
    pg.cli("deploy")
    wait_for("a continuous base", lambda: any(b["kind"] == "continuous" for b in pg.backups()))
    base = next(b for b in pg.backups() if b["kind"] == "continuous")
    wal = pg.home / "backups" / "dev" / str(base["id"]) / "wal"
    for n in range(4):
        pg.add_note(f"note {n}")
        psql(pg, "SELECT pg_switch_wal()")

    def whole_segments() -> list[Path]:
        return sorted(p for p in wal.iterdir() if len(p.name) == 24)

    wait_for("four finished segments stored", lambda: len(whole_segments()) >= 4)
    whole_segments()[1].unlink()
    refused = pg.cli("backup", "restore", "dev", "--backup", str(base["id"]), check=False)
    assert refused.returncode == 1 and "is missing" in refused.stderr, refused.stderr
    assert pg.notes() == [f"note {n}" for n in range(4)]
    assert [b["kind"] for b in pg.backups()].count("pre-restore") == 0  # refused at fetch


def continuous_end(sy: Shipyard) -> float:
    ends = [float(str(b["recoverable_to"])) for b in sy.backups() if b["kind"] == "continuous"]
    return max(ends, default=0.0)


def test_plain_restore_reaches_the_newest_point_over_a_cluster_that_does_not_start(pg: Shipyard) -> None:
    pg.up()
    pg.cli("deploy")
    pg.add_note("one")
    wait_for("a continuous base", lambda: continuous_end(pg) > 0)
    pg.cli("backup", "create", "dev")  # a base backup newer than the continuous one
    pg.add_note("marker")
    marker_at = time.time()
    wait_for("the window to pass the marker", lambda: continuous_end(pg) > marker_at + 0.5)

    # the loss: the server is gone and its control file damaged, so it does not start again
    data = pg.home / "envs" / "dev" / "data" / "pg" / "data"
    pid = postmaster(pg)
    os.kill(pid, signal.SIGQUIT)  # PostgreSQL's immediate shutdown
    wait_for("the server to stop", lambda: not psutil.pid_exists(pid), 20)
    control = data / "global" / "pg_control"
    damaged = b"\0" * control.stat().st_size
    control.write_bytes(damaged)
    out = pg.cli("backup", "restore", "dev").stdout
    assert "restored to the newest point shipped" in out and "WAL replayed to LSN" in out, out
    assert "safety backup: none (skipped: the database was unreadable)" in out, out
    assert pg.notes() == ["one", "marker"]
    kept = [p for p in data.parent.iterdir() if p.name.startswith("data.broken-")]
    assert len(kept) == 1 and (kept[0] / "global" / "pg_control").read_bytes() == damaged, kept
    assert f"kept aside: the broken database, {kept[0]}" in out, out
    pg.add_note("after the restore")  # the restored cluster is writable

    # --to-time now: at or after the window's end, so restored to the end, saying so
    now = pg.cli("backup", "restore", "dev", "--to-time", "now").stdout
    assert "end of the recoverable window" in now, now
    assert pg.notes()[:2] == ["one", "marker"]


def test_missing_programs_and_external_servers_are_clear_errors(pg: Shipyard) -> None:
    pg.up(SHIPYARD_PG_BIN="/nonexistent/bin")
    done = pg.cli("deploy", check=False)
    assert done.returncode == 1 and "no PostgreSQL programs found" in done.stderr, done.stderr
    assert "SHIPYARD_PG_BIN" in done.stderr and not (pg.home / "envs" / "dev" / "data" / "pg").exists()
    pg.cli("down")
    pg.manifest["database"] = {"engine": "postgres", "url": "postgresql://app:hunter2@127.0.0.1:9/app"}
    pg.write_manifest()
    pg.up()
    refused = pg.cli("backup", "create", "dev", check=False)
    assert refused.returncode == 1 and "Connection refused" in refused.stderr, refused.stderr
    assert "postgresql://app:**********@127.0.0.1:9/app" in refused.stderr, refused.stderr
    assert "hunter2" not in refused.stderr + refused.stdout
    pg.manifest["database"] = {"engine": "postgres"}
    pg.write_manifest()
    bad = pg.cli("validate", check=False)
    assert bad.returncode == 1 and "exactly one of `managed: true`" in bad.stderr, bad.stderr
