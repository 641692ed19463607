"""Drills of managed PostgreSQL and the verify query suite, end to end: real CLI, control plane,
app, PostgreSQL 15 (the pgnotes example) and SQLite (the notes example)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from tests.integration.conftest import Shipyard
from tests.integration.test_backups import db_file
from tests.integration.test_postgres import (  # noqa: F401 (pg is a fixture)
    MISSING,
    pg,
    postmaster,
    psql,
    wait_for,
)

from shipyard.drivers.data.db_query import postgres_rows
from shipyard.drivers.data.postgres.programs import Conn, Postgres
from shipyard.errors import DatabaseError

pytestmark = pytest.mark.integration
needs_pg = pytest.mark.skipif(bool(MISSING), reason=MISSING)
NOTES_EXIST = {"name": "notes exist", "sql": "SELECT count(*) FROM notes", "expect": "> 0"}


def _seconds(name: str, line: str) -> float:
    found = re.search(rf"{name} (\d+\.\d+)s", line)
    assert found, line
    return float(found.group(1))


def pg_folder(sy: Shipyard) -> Path:
    return sy.home / "envs" / "dev" / "data" / "pg"


def drills(sy: Shipyard) -> list[dict[str, object]]:
    with sy.api() as api:
        return list(api.get("/api/drills/dev").json()["drills"])


@needs_pg
def test_pg_drill_with_continuous_wal_recovers_the_marker_and_deletes_it(pg: Shipyard) -> None:  # noqa: F811
    pg.manifest["database"]["drill"] = {"rto": "2m", "rpo": "5s"}
    pg.manifest["database"]["backups"]["verify_queries"] = [NOTES_EXIST]
    pg.write_manifest()
    pg.up()
    pg.cli("deploy")
    pg.add_note("before the drill")
    wait_for("a continuous base", lambda: any(b["kind"] == "continuous" for b in pg.backups()))
    time.sleep(3)  # the base is older than the target: only the shipped WAL can meet it
    # a marker row a crashed drill left behind (the table is Shipyard's, in the app database)
    psql(pg, "CREATE TABLE shipyard_drill (id text PRIMARY KEY, at double precision NOT NULL)")
    psql(pg, "INSERT INTO shipyard_drill VALUES ('d-left-by-a-crash', 1)")
    pid = postmaster(pg)
    serving = pg.serving()

    out = pg.cli("drill", "dev").stdout
    assert out.startswith("passed"), out
    assert "the marker was recovered" in out and "1 verify query passed" in out, out
    assert _seconds("RPO", out) <= 1.5, out  # the shipping delay: about a tick of the shipper
    base = next(b for b in pg.backups() if b["kind"] == "continuous")
    assert f"restored {base['id']}" in out, out
    drill = drills(pg)[0]
    assert drill["marker_recovered"] and drill["rto_ok"] and drill["rpo_ok"], drill
    assert 0 < float(str(drill["rto_s"])) < 120  # fetch + recovery + first answer, recorded
    queries: Any = drill["queries"]
    assert [q["name"] for q in queries] == ["notes exist"]

    # the live database: markers gone (the crashed drill's too), data and server untouched
    assert psql(pg, "SELECT count(*) FROM shipyard_drill") == "0"
    assert pg.notes() == ["before the drill"]
    assert postmaster(pg) == pid and pg.serving() == serving
    assert not [p.name for p in pg_folder(pg).iterdir() if p.name.startswith("drill-")]  # scratch gone
    listed = pg.cli("drill", "dev", "--list").stdout
    assert listed.splitlines()[0].startswith("passed") and "(manual," in listed


@needs_pg
def test_pg_drill_without_continuous_wal_reports_the_backups_age(pg: Shipyard) -> None:  # noqa: F811
    pg.manifest["database"]["backups"]["continuous"] = False
    pg.manifest["database"]["drill"] = {"rto": "2m", "rpo": "2s"}
    pg.write_manifest()
    pg.up()
    pg.cli("deploy")
    pg.add_note("kept")
    backup_id = pg.cli("backup", "create", "dev").stdout.split()[1]
    taken = next(float(str(b["recoverable_to"])) for b in pg.backups() if b["id"] == backup_id)
    time.sleep(3)
    started = time.time()
    failed = pg.cli("drill", "dev", check=False)
    assert failed.returncode == 1 and failed.stdout.startswith("failed"), failed.stdout
    assert "RPO" in failed.stdout and "MISSED" in failed.stdout, failed.stdout
    assert f"restored {backup_id}; the marker was not recovered" in failed.stdout
    assert started - taken - 0.5 <= _seconds("RPO", failed.stdout) <= time.time() - taken + 0.5
    assert psql(pg, "SELECT count(*) FROM shipyard_drill") == "0"  # deleted after each drill
    assert [d["status"] for d in drills(pg)] == ["failed"]
    assert pg.notes() == ["kept"]


@needs_pg
def test_a_drill_killed_half_way_converges_at_restart(pg: Shipyard) -> None:  # noqa: F811
    pg.manifest["database"]["backups"]["continuous"] = False
    # a slow query keeps the scratch cluster up long enough to kill the control plane meanwhile
    slow = {"name": "slow", "sql": "SELECT pg_sleep(4)", "expect": "rows", "timeout": "20s"}
    pg.manifest["database"]["backups"]["verify_queries"] = [slow]
    pg.write_manifest()
    pg.up()
    pg.cli("deploy")
    pg.add_note("kept")
    pg.cli("backup", "create", "dev")
    argv = [sys.executable, "-m", "shipyard", "--home", str(pg.home), "--app-dir", str(pg.app)]
    argv += ["drill", "dev"]
    drill = subprocess.Popen(argv, env=pg.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        pid_files: list[Path] = []

        def scratch_running() -> bool:
            pid_files[:] = list(pg_folder(pg).glob("drill-*/data/postmaster.pid"))
            return bool(pid_files)

        wait_for("the drill's scratch cluster", scratch_running, 60)
        scratch = int(pid_files[0].read_text().split()[0])
        server = pg.server_pid()
        os.kill(server, signal.SIGKILL)
        pg.wait_server_gone(server)
    finally:
        drill.wait(timeout=60)
    assert psutil.pid_exists(scratch)  # left running by the killed control plane
    assert psql(pg, "SELECT count(*) FROM shipyard_drill") == "1"  # and its marker row
    (pg.home / "server.json").unlink(missing_ok=True)
    pg.up()
    wait_for("the scratch cluster to stop", lambda: not psutil.pid_exists(scratch), 20)
    assert not list(pg_folder(pg).glob("drill-*"))
    out = pg.cli("drill", "dev", check=False).stdout
    assert "restored" in out and "1 verify query passed" in out, out
    assert psql(pg, "SELECT count(*) FROM shipyard_drill") == "0"  # the next drill deleted both
    assert pg.notes() == ["kept"]


@needs_pg
def test_pg_verify_queries_pass_and_fail(pg: Shipyard) -> None:  # noqa: F811
    pg.manifest["database"]["backups"]["continuous"] = False
    pg.manifest["database"]["backups"]["verify_queries"] = [
        NOTES_EXIST,
        {"name": "one note per text", "sql": "SELECT text FROM notes GROUP BY text HAVING count(*) > 1",
         "expect": "no rows", "timeout": "10s"},
    ]  # fmt: skip
    pg.write_manifest()
    pg.up()
    pg.cli("deploy")
    empty = pg.cli("backup", "create", "dev").stdout.split()[1]
    pg.add_note("one")
    full = pg.cli("backup", "create", "dev").stdout.split()[1]

    failed = pg.cli("backup", "verify", "dev", "--backup", empty, check=False)
    assert failed.returncode == 1 and "failed verification" in failed.stderr, failed.stderr
    assert "pg_amcheck ok" in failed.stderr  # the built-in checks passed; the suite did not
    assert "verify query 'notes exist' returned 1 row, first value '0', expected > 0" in failed.stderr

    passed = pg.cli("backup", "verify", "dev", "--backup", full).stdout
    assert "pg_amcheck ok" in passed and "2 verify queries passed" in passed, passed
    kept = {str(b["id"]): b["verification"] for b in pg.backups()}
    assert [(q["name"], q["ok"]) for q in kept[full]["queries"]] == [  # type: ignore[index]
        ("notes exist", True), ("one note per text", True),
    ]  # fmt: skip
    assert [q["ok"] for q in kept[empty]["queries"]] == [False, True]  # type: ignore[index]
    assert pg.notes() == ["one"]

    # the runner itself, on the live cluster: read-only and bounded in time
    cluster = json.loads((pg_folder(pg) / "cluster.json").read_text())
    conn = Conn(cluster["port"], "postgres", cluster["superuser_password"], "app")
    with pytest.raises(DatabaseError, match="read-only transaction"):
        postgres_rows(Postgres(), conn, "DELETE FROM notes", 5)
    with pytest.raises(DatabaseError, match="statement timeout"):
        postgres_rows(Postgres(), conn, "SELECT pg_sleep(10)", 0.3)
    odd = "SELECT 'a|b', NULL, E'two\\nlines' UNION ALL SELECT '', 'x', 'y'"
    rows = postgres_rows(Postgres(), conn, odd, 5)
    assert rows == [("a|b", None, "two\nlines"), ("", "x", "y")]
    assert postgres_rows(Postgres(), conn, "SELECT ''", 5) == [("",)]  # one row, an empty value
    assert postgres_rows(Postgres(), conn, "SELECT 1 WHERE false", 5) == []
    assert pg.notes() == ["one"]


def test_sqlite_verify_queries_pass_and_fail(shipyard: Shipyard) -> None:
    shipyard.manifest["database"]["backups"] = {"verify_queries": [NOTES_EXIST]}
    shipyard.write_manifest()
    shipyard.up()
    shipyard.cli("deploy")
    empty = shipyard.cli("backup", "create", "dev").stdout.split()[1]
    shipyard.add_note("one")
    full = shipyard.cli("backup", "create", "dev").stdout.split()[1]
    failed = shipyard.cli("backup", "verify", "dev", "--backup", empty, check=False)
    assert failed.returncode == 1 and "failed verification" in failed.stderr, failed.stderr
    assert "integrity_check ok" in failed.stderr
    assert "verify query 'notes exist' returned 1 row, first value '0', expected > 0" in failed.stderr
    passed = shipyard.cli("backup", "verify", "dev", "--backup", full).stdout
    assert "integrity_check ok" in passed and "1 verify query passed" in passed, passed
    assert db_file(shipyard).exists()
