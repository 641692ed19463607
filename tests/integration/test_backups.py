"""Database backups, restores and migrations end to end: real CLI, control plane, app, SQLite."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
from tests.integration.conftest import Load, Shipyard

pytestmark = pytest.mark.integration


def db_file(sy: Shipyard, env: str = "dev") -> Path:
    return sy.home / "envs" / env / "data" / "notes.db"


def test_backup_verify_restore_while_serving(shipyard: Shipyard) -> None:
    shipyard.up()
    out = shipyard.cli("deploy").stdout
    assert "✓ migrate" in out, out  # first deploy: no database yet, the migration creates it
    assert db_file(shipyard).exists()  # DATABASE_URL reached the app and the migration
    shipyard.add_note("kept")
    created = shipyard.cli("backup", "create", "dev", "--reason", "test").stdout
    backup_id = created.split()[1]
    assert backup_id.startswith("b-")
    shipyard.add_note("after the backup")
    pids = {i["pid"] for i in shipyard.status()["instances"]}

    verified = shipyard.cli("backup", "verify", "dev", "--backup", backup_id).stdout
    assert "checksums and PRAGMA integrity_check ok" in verified
    with Load(shipyard.port) as load:
        restored = shipyard.cli("backup", "restore", "dev", "--backup", backup_id).stdout
        time.sleep(0.3)
    assert f"restored {backup_id} into dev" in restored
    assert load.failed == [] and load.ok > 0
    assert shipyard.notes() == ["kept"]  # the running instances see the restored data at once
    assert {i["pid"] for i in shipyard.status()["instances"]} == pids  # nothing was restarted

    listed = {b["id"]: b for b in shipyard.backups()}
    assert listed[backup_id]["verification"]["ok"] is True  # type: ignore[index]
    safety = [b for b in listed.values() if b["kind"] == "pre-restore"]
    assert len(safety) == 1 and safety[0]["status"] == "complete"
    table = shipyard.cli("backup", "list", "dev").stdout
    assert backup_id in table and "pre-restore" in table

    # the safety backup holds the state just before the restore
    shipyard.cli("backup", "restore", "dev", "--backup", str(safety[0]["id"]))
    assert shipyard.notes() == ["kept", "after the backup"]
    history = shipyard.cli("deployments", "dev").stdout
    assert "restore" in history and "safety-backup" in history

    # the catalog lives with the backups, written whole; the stored object is encrypted
    folder = shipyard.home / "backups" / "dev"
    catalog = json.loads((folder / "catalog.json").read_text())
    assert {r["id"] for r in catalog["records"]} == set(listed) | {catalog["records"][-1]["id"]}
    stored = (folder / backup_id / "db.sqlite.zst.enc").read_bytes()
    assert stored.startswith(b"SYBK") and b"kept" not in stored and b"SQLite format" not in stored
    assert (shipyard.home / "backup.key").stat().st_mode & 0o777 == 0o600


def test_damaged_backup_is_refused_and_restore_touches_nothing(shipyard: Shipyard) -> None:
    shipyard.up()
    shipyard.cli("deploy")
    shipyard.add_note("one")
    backup_id = shipyard.cli("backup", "create", "dev").stdout.split()[1]
    shipyard.add_note("two")
    stored = shipyard.home / "backups" / "dev" / backup_id / "db.sqlite.zst.enc"
    raw = bytearray(stored.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    stored.write_bytes(bytes(raw))

    done = shipyard.cli("backup", "verify", "dev", "--backup", backup_id, check=False)
    assert done.returncode == 1 and "failed verification" in done.stderr, done.stderr
    refused = shipyard.cli("backup", "restore", "dev", "--backup", backup_id, check=False)
    assert refused.returncode == 1 and "does not authenticate" in refused.stderr, refused.stderr
    assert shipyard.notes() == ["one", "two"]
    assert [b["kind"] for b in shipyard.backups()] == ["manual"]  # no safety backup: nothing was replaced

    stored.write_bytes(bytes(raw[: len(raw) - 100]))  # truncated
    refused = shipyard.cli("backup", "restore", "dev", "--backup", backup_id, check=False)
    assert refused.returncode == 1 and "truncated" in refused.stderr, refused.stderr


def test_restore_into_another_environment(shipyard: Shipyard) -> None:
    staging_port = shipyard.port + 1 if shipyard.port < 65000 else shipyard.port - 1
    shipyard.manifest["environments"]["staging"] = {"port": staging_port}
    shipyard.write_manifest()
    shipyard.up()
    shipyard.cli("deploy", "dev")
    shipyard.add_note("from dev")
    shipyard.cli("backup", "create", "dev")
    shipyard.cli("deploy", "staging")
    out = shipyard.cli("backup", "restore", "dev", "--target", "staging").stdout
    assert "into staging" in out
    with sqlite3.connect(db_file(shipyard, "staging")) as conn:
        assert [r[0] for r in conn.execute("SELECT text FROM notes")] == ["from dev"]
    assert [b["kind"] for b in shipyard.backups("staging")] == ["pre-restore"]


def test_migration_in_deployment_and_failed_migration_restores(shipyard: Shipyard) -> None:
    shipyard.up()
    shipyard.cli("deploy")
    shipyard.add_note("v1 note")
    shipyard.use("v2")
    out = shipyard.cli("deploy").stdout
    assert "✓ backup" in out and "✓ migrate" in out and "applied 2: add column notes.tags" in out, out
    with sqlite3.connect(db_file(shipyard)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    assert [b["kind"] for b in shipyard.backups()] == ["pre-migrate"]
    status = shipyard.cli("migrate", "status", "dev").stdout
    assert "schema version 2; this release knows 2; pending: none" in status

    # a migration that destroys data and then fails: the backup comes back, v2 keeps serving
    (shipyard.app / "migrate.py").write_text(
        "import os, sqlite3, sys\n"
        "conn = sqlite3.connect(os.environ['DATABASE_URL'].removeprefix('sqlite:///'))\n"
        "conn.execute('DELETE FROM notes'); conn.commit()\n"
        "print('deleted everything, now failing'); sys.exit(3)\n"
    )
    (shipyard.app / "app.py").write_text((shipyard.app / "app.py").read_text().replace("2.0.0", "3.0.0"))
    failed = shipyard.cli("deploy", check=False)
    assert failed.returncode == 1
    assert "exited with 3" in failed.stderr and "restored from backup" in failed.stderr, failed.stderr
    assert shipyard.serving()["version"] == "2.0.0"
    assert shipyard.notes() == ["v1 note"]
    history = shipyard.cli("deployments", "dev", "--limit", "1").stdout
    for step in ("backup", "migrate", "fetch", "safety-backup", "restore"):
        assert step in history, history


def test_migrate_down_and_up_by_hand(shipyard: Shipyard) -> None:
    shipyard.use("v2")
    shipyard.up()
    shipyard.cli("deploy")
    down = shipyard.cli("migrate", "down", "dev").stdout
    assert "reverted 2: add column notes.tags" in down
    with sqlite3.connect(db_file(shipyard)) as conn:
        assert "tags" not in {r[1] for r in conn.execute("PRAGMA table_info(notes)")}
    # plan shows the SQL that `up` would run, and runs none of it
    plan = shipyard.cli("migrate", "plan", "dev").stdout
    assert "1 pending" in plan and "ALTER TABLE notes ADD COLUMN tags TEXT;" in plan, plan
    with sqlite3.connect(db_file(shipyard)) as conn:
        assert "tags" not in {r[1] for r in conn.execute("PRAGMA table_info(notes)")}
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    unknown = shipyard.cli("migrate", "plan", "dev", "--release", "r999", check=False)
    assert unknown.returncode == 1 and "does not exist" in unknown.stderr, unknown.stderr
    up = shipyard.cli("migrate", "up", "dev").stdout
    assert "applied 2" in up
    assert [b["kind"] for b in shipyard.backups()] == ["pre-migrate", "pre-migrate"]


def test_continuous_shipping_and_point_in_time_restore(shipyard: Shipyard) -> None:
    shipyard.manifest["database"]["backups"] = {"continuous": True}
    shipyard.write_manifest()
    shipyard.up()
    shipyard.cli("deploy")
    shipyard.add_note("first")
    time.sleep(1.5)
    between = time.time()
    time.sleep(1.5)
    shipyard.add_note("second")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the shipper starts once the database exists, then ships each second
        continuous = [b for b in shipyard.backups() if b["kind"] == "continuous"]
        if continuous and float(continuous[0]["recoverable_to"]) > between + 1.6:  # type: ignore[arg-type]
            break
        time.sleep(0.3)
    else:
        raise AssertionError(f"no continuous window past the second note: {shipyard.backups()}")
    # after the window's end: restored to the end (the base and every segment), saying so
    late = shipyard.cli("backup", "restore", "dev", "--to-time", "2999-01-01T00:00:00Z").stdout
    assert "restored to the end of the recoverable window" in late, late
    assert shipyard.notes() == ["first", "second"]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(between)) + f".{int(between % 1 * 1000):03d}Z"
    out = shipyard.cli("backup", "restore", "dev", "--to-time", stamp).stdout
    assert "as of" in out and "as asked" in out, out
    assert shipyard.notes() == ["first"]
    early = shipyard.cli("backup", "restore", "dev", "--to-time", "2001-01-01T00:00:00Z", check=False)
    assert early.returncode == 1 and "outside the recoverable window" in early.stderr, early.stderr
    listed = shipyard.cli("backup", "list", "dev").stdout
    assert "continuous" in listed and "recoverable" in listed


def continuous_end(sy: Shipyard) -> float:
    ends = [float(str(b["recoverable_to"])) for b in sy.backups() if b["kind"] == "continuous"]
    return max(ends, default=0.0)


def test_plain_restore_reaches_the_newest_point_over_a_corrupted_file(shipyard: Shipyard) -> None:
    shipyard.manifest["database"]["backups"] = {"continuous": True}
    shipyard.write_manifest()
    shipyard.up()
    shipyard.cli("deploy")
    shipyard.add_note("first")
    deadline = time.monotonic() + 20
    while continuous_end(shipyard) == 0.0 and time.monotonic() < deadline:
        time.sleep(0.3)
    shipyard.cli("backup", "create", "dev")  # a snapshot newer than the continuous base
    shipyard.add_note("marker")
    marker_at = time.time()
    deadline = time.monotonic() + 20
    while continuous_end(shipyard) <= marker_at + 0.5 and time.monotonic() < deadline:
        time.sleep(0.3)  # the window's end follows the clock once the marker is shipped
    assert continuous_end(shipyard) > marker_at + 0.5, shipyard.backups()

    # the loss: the database file and its WAL are garbage now
    db = db_file(shipyard)
    garbage = b"\x5a" * db.stat().st_size
    db.write_bytes(garbage)
    db.with_name(db.name + "-wal").write_bytes(b"\xa5" * 4096)
    out = shipyard.cli("backup", "restore", "dev").stdout
    assert "restored to the newest point shipped" in out and "WAL generation" in out, out
    assert "safety backup: none (skipped: the database was unreadable)" in out, out
    assert shipyard.notes() == ["first", "marker"]
    kept = [
        p for p in db.parent.iterdir() if p.name.startswith("notes.db.broken-") and "-" not in p.name[16:]
    ]
    assert len(kept) == 1 and kept[0].read_bytes() == garbage, kept  # kept aside, not deleted
    assert f"kept aside: the broken database, {kept[0]}" in out, out
    history = shipyard.cli("deployments", "dev").stdout
    assert "restore" in history

    # --to-time now: at or after the window's end, so restored to the end, saying so
    now = shipyard.cli("backup", "restore", "dev", "--to-time", "now").stdout
    assert "end of the recoverable window" in now, now
    assert shipyard.notes() == ["first", "marker"]


def test_backup_routes_check_roles(shipyard: Shipyard) -> None:
    shipyard.up()
    shipyard.cli("deploy")
    vic = shipyard.cli("users", "add", "vic", "--role", "viewer", "--env", "dev").stdout.strip()
    dana = shipyard.cli("users", "add", "dana", "--role", "deployer", "--env", "dev").stdout.strip()

    def as_user(token: str, *args: str) -> tuple[int, str]:
        done = shipyard.cli(*args, check=False, env={**shipyard.env, "SHIPYARD_TOKEN": token})
        return done.returncode, done.stdout + done.stderr

    assert as_user(vic, "backup", "list", "dev")[0] == 0
    code, out = as_user(vic, "backup", "create", "dev")
    assert code == 1 and "may not deploy" in out, out
    assert as_user(dana, "backup", "create", "dev")[0] == 0
    code, out = as_user(dana, "backup", "restore", "dev")
    assert code == 1 and "may not admin" in out and "--role admin" in out, out
    with shipyard.api() as api:
        entries = api.get("/api/audit", params={"limit": 50}).json()["entries"]
    actions = {(e["actor"], e["action"], e["result"]) for e in entries}
    assert {("dana", "backup.create", "ok"), ("dana", "backup.restore", "denied")} <= actions
    assert ("vic", "backup.create", "denied") in actions
