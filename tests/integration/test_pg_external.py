"""An external PostgreSQL server end to end: real CLI, control plane, app (psycopg), PostgreSQL 15.

The test starts "the external server" itself (initdb and pg_ctl as the ``postgres`` OS user,
on a free 127.0.0.1 port, with passwords) and deploys the notes app on PostgreSQL with
``database: {engine: postgres, url: postgresql://app:#{DB_PASSWORD}#@127.0.0.1:PORT/app}``:
the password comes from the vault (``shipyard secrets set``), the app serves notes from the
server, pg_dump backs it up, a scratch cluster verifies the dump, pg_restore puts changed
rows back. A wrong password, a stopped server and a damaged dump are clear errors without
the password, and a scan of the Shipyard home, its logs and every CLI output finds no
password. Also: a URL with no password (libpq's PGPASSFILE), a verify's scratch cluster left
by a killed control plane, and a failed migration that puts the pre-migrate dump back.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
import pytest
from tests.integration.conftest import Shipyard
from tests.integration.ports import free_port

from shipyard.drivers.data.postgres.programs import find_bin_dir
from shipyard.errors import DatabaseError

try:
    BIN = find_bin_dir()
    MISSING = ""
except DatabaseError as exc:
    MISSING = exc.message

pytestmark = [pytest.mark.integration, pytest.mark.skipif(bool(MISSING), reason=MISSING)]


@dataclass
class Server:
    """A PostgreSQL server Shipyard does not run."""

    folder: Path
    port: int
    superuser_password: str
    app_password: str

    def psql(self, sql: str, database: str = "app") -> str:
        env = {**os.environ, "PGPASSWORD": self.superuser_password}
        argv = [str(BIN / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"]
        done = subprocess.run(
            [*argv, "-p", str(self.port), "-U", "postgres", "-c", sql, database],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def stop(self) -> None:
        stop = [str(BIN / "pg_ctl"), "stop", "-D", str(self.folder / "data"), "-m", "immediate", "-w"]
        subprocess.run(_as_postgres(stop), check=False, capture_output=True, cwd="/")


def _as_postgres(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    user = pwd.getpwnam("postgres")
    return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", *argv]


@pytest.fixture
def server() -> Iterator[Server]:
    with external_server() as made:
        yield made


@contextlib.contextmanager
def external_server() -> Iterator[Server]:
    """A PostgreSQL 15 server on a free port with roles ``postgres`` and ``app`` and a database
    ``app`` (also the external server of ``test_database_engines.py``)."""
    folder = Path(tempfile.mkdtemp(prefix="shipyard-extpg-"))
    folder.chmod(0o711)  # the server's OS user passes through to data/
    data = folder / "data"
    made = Server(folder, free_port(), secrets.token_urlsafe(18), "ext-" + secrets.token_hex(8) + "@#/:pw")
    pwfile = folder / "pw"
    pwfile.write_text(made.superuser_password + "\n")
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
        os.chown(pwfile, user.pw_uid, user.pw_gid)
    initdb = [str(BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=scram-sha-256",
              f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C", "--no-instructions"]  # fmt: skip
    subprocess.run(_as_postgres(initdb), check=True, capture_output=True, cwd="/")
    pwfile.unlink()
    with open(data / "postgresql.conf", "a") as fh:
        fh.write(f"\nlisten_addresses = '127.0.0.1'\nport = {made.port}\nunix_socket_directories = ''\n")
    start = [str(BIN / "pg_ctl"), "start", "-D", str(data), "-l", str(folder / "server.log"), "-w"]
    subprocess.run(_as_postgres(start), check=True, capture_output=True, cwd="/")
    try:
        literal = made.app_password.replace("'", "''")
        made.psql(f"CREATE ROLE app LOGIN PASSWORD '{literal}'", "postgres")
        made.psql("CREATE DATABASE app OWNER app", "postgres")
        yield made
    finally:
        made.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def ext(shipyard: Shipyard, server: Server) -> Iterator[Shipyard]:
    with shipyard.home_outside_tmp("shipyard-ext-"):  # verify's scratch cluster runs as postgres
        shipyard.use_pgnotes(
            {
                "engine": "postgres",
                "url": f"postgresql://app:#{{DB_PASSWORD}}#@127.0.0.1:{server.port}/app",
                "migrate": {"up": "python migrate.py up", "status": "python migrate.py status"},
                "backups": {"verify_schedule": None},
            }
        )
        yield shipyard


def test_external_server_with_vault_credentials_backup_verify_restore(ext: Shipyard, server: Server) -> None:
    said: list[str] = []

    def cli(*args: str, check: bool = True, input: str = "") -> subprocess.CompletedProcess[str]:
        done = ext.cli(*args, check=check, input=input)
        said.append(done.stdout + done.stderr)
        return done

    ext.up()
    # no secret yet: the deployment is refused before anything starts, naming the key and the fix
    refused = cli("deploy", check=False)
    assert refused.returncode == 1, refused.stdout
    assert "database.url: #{DB_PASSWORD}# names no secret" in refused.stderr, refused.stderr
    assert "shipyard secrets set dev DB_PASSWORD" in refused.stderr, refused.stderr

    cli("secrets", "set", "dev", "DB_PASSWORD", input=server.app_password)
    out = cli("deploy").stdout
    assert "✓ migrate" in out and "✓ backup" in out, out  # a pre-migrate dump of the server
    ext.add_note("one")
    ext.add_note("two")
    assert ext.notes() == ["one", "two"]  # DATABASE_URL, its password from the vault, reached the app
    assert server.psql("SELECT string_agg(text, ',' ORDER BY id) FROM notes") == "one,two"

    backup_id = cli("backup", "create", "dev").stdout.split()[1]
    row = next(b for b in ext.backups() if b["id"] == backup_id)
    assert row["engine"] == "postgres" and row["status"] == "complete", row
    objects: Any = row["objects"]
    assert [o["role"] for o in objects] == ["dump"]
    assert row["recoverable_from"] == row["recoverable_to"] == row["started_at"]  # no window: a snapshot
    stored = ext.home / "backups" / "dev" / backup_id / "dump.pgc.zst.enc"
    assert stored.read_bytes()[:4] == b"SYBK" and b"notes" not in stored.read_bytes()  # encrypted

    verified = cli("backup", "verify", "dev", "--backup", backup_id).stdout
    assert "pg_restore and pg_amcheck ok (2 tables)" in verified, verified
    row = next(b for b in ext.backups() if b["id"] == backup_id)
    assert row["verification"]["ok"] and row["verification"]["restore_s"] > 0  # type: ignore[index]
    assert not list((ext.home / "tmp").glob("verify-*"))  # the scratch cluster is gone

    # rows changed on the server: the restore brings them back, after a safety dump
    server.psql("UPDATE notes SET text = 'changed' WHERE text = 'one'")
    server.psql("DELETE FROM notes WHERE text = 'two'")
    ext.add_note("after the backup")
    restored = cli("backup", "restore", "dev", "--backup", backup_id).stdout
    assert f"restored {backup_id}" in restored and "into dev" in restored, restored
    assert ext.notes() == ["one", "two"]
    kinds = [b["kind"] for b in ext.backups()]
    assert "pre-restore" in kinds and "pre-migrate" in kinds, kinds
    with ext.api() as api:
        jobs = api.get("/api/deployments", params={"env": "dev"}).json()
        job = next(d for d in jobs if d["kind"] == "restore")
        events = api.get(f"/api/deployments/{job['id']}/events").json()["events"]
    text = str(events)
    assert "safety backup" in text and "holds " + backup_id in text, text

    # point-in-time is not something a dump can do: refused, nothing touched
    refused = cli("backup", "restore", "dev", "--to-time", "1000000000", check=False)
    assert refused.returncode == 1 and "not a point in time" in refused.stderr, refused.stderr

    # a wrong password: a clear error that names the server, never a password
    cli("secrets", "set", "dev", "DB_PASSWORD", input="wrong-" + server.app_password)
    failed = cli("backup", "create", "dev", check=False)
    assert failed.returncode == 1, failed.stdout
    assert "password authentication failed" in failed.stderr, failed.stderr
    assert "postgresql://app:**********@127.0.0.1" in failed.stderr, failed.stderr
    refused = cli("backup", "restore", "dev", "--backup", backup_id, check=False)
    assert refused.returncode == 1 and "password authentication failed" in refused.stderr, refused.stderr
    assert server.psql("SELECT string_agg(text, ',' ORDER BY id) FROM notes") == "one,two"  # untouched
    # the server is down: the same clear error, the right hint
    cli("secrets", "set", "dev", "DB_PASSWORD", input=server.app_password)
    server.stop()
    failed = cli("backup", "create", "dev", check=False)
    assert failed.returncode == 1 and "Connection refused" in failed.stderr, failed.stderr
    assert "check that the server is up" in failed.stderr, failed.stderr
    # a damaged dump: verify fails, restore refuses at fetch, before the server is asked anything
    raw = bytearray(stored.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    stored.write_bytes(bytes(raw))
    failed = cli("backup", "verify", "dev", "--backup", backup_id, check=False)
    assert failed.returncode == 1 and "failed verification" in failed.stderr, failed.stderr
    refused = cli("backup", "restore", "dev", "--backup", backup_id, check=False)
    assert refused.returncode == 1 and "does not authenticate" in refused.stderr, refused.stderr
    with ext.api() as api:
        audit = api.get("/api/audit", params={"limit": 1000}).json()["entries"]
    reads = [e["target"] for e in audit if e["action"] == "secrets.use"]
    assert any(t.startswith("backup ") and t.endswith(" of dev") for t in reads), reads  # audited reads
    assert any(t.startswith("restore of ") for t in reads), reads
    cli("backup", "list", "dev")
    cli("config", "show", "dev")
    cli("status")
    with ext.api() as api:
        said.append(api.get("/api/backups/dev").text + api.get("/api/status").text)
        said.append(api.get("/api/config/dev").text + api.get("/api/audit", params={"limit": 1000}).text)
    ext.cli("down")

    # no password anywhere Shipyard writes or prints: the home (state, logs, catalog), its output
    for password in (server.app_password, "wrong-" + server.app_password):
        forms = {password.encode(), quote(password, safe="").encode()}
        for text in said:
            assert not any(f.decode() in text for f in forms), text
        for path in ext.home.rglob("*"):
            if path.is_file() and not path.is_symlink():
                data = path.read_bytes()
                assert not any(f in data for f in forms), path


def test_a_url_without_password_uses_libpq_passfile(ext: Shipyard, server: Server) -> None:
    passfile = server.folder / "pgpass"
    escaped = server.app_password.replace(":", "\\:")  # .pgpass escapes its separator
    passfile.write_text(f"127.0.0.1:{server.port}:app:app:{escaped}\n")
    passfile.chmod(0o600)
    ext.manifest["database"]["url"] = f"postgresql://app@127.0.0.1:{server.port}/app"
    ext.manifest["env"] = {"PGPASSFILE": str(passfile)}  # the app's processes
    ext.write_manifest()
    ext.up(PGPASSFILE=str(passfile))  # Shipyard's own pg_dump and pg_restore
    ext.cli("deploy")
    ext.add_note("from the passfile")
    backup_id = ext.cli("backup", "create", "dev").stdout.split()[1]
    verified = ext.cli("backup", "verify", "dev", "--backup", backup_id).stdout
    assert "pg_amcheck ok (2 tables)" in verified, verified
    server.psql("DELETE FROM notes")
    ext.cli("backup", "restore", "dev", "--backup", backup_id)
    assert ext.notes() == ["from the passfile"]


def _suspend_child(parent: psutil.Process, name: str) -> psutil.Process | None:
    """Stop (SIGSTOP) ``parent``'s child called ``name`` if one is running now."""
    for child in parent.children():
        try:
            if child.name() == name:
                child.suspend()
                return child
        except psutil.NoSuchProcess:
            continue  # a child that ended while we looked (psql, initdb...)
    return None


def test_a_scratch_cluster_left_by_a_killed_control_plane_is_stopped_at_start(
    ext: Shipyard, server: Server
) -> None:
    ext.up()
    ext.cli("secrets", "set", "dev", "DB_PASSWORD", input=server.app_password)
    ext.cli("deploy")
    # enough rows that the scratch cluster lives a while (pg_restore, then pg_amcheck)
    server.psql(
        "INSERT INTO notes (text, created_at) SELECT md5(g::text), now() FROM generate_series(1, 300000) g"
    )
    backup_id = ext.cli("backup", "create", "dev").stdout.split()[1]
    argv = [sys.executable, "-m", "shipyard", "--home", str(ext.home), "--app-dir", str(ext.app)]
    verify = subprocess.Popen([*argv, "backup", "verify", "dev", "--backup", backup_id], env=ext.env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    control = psutil.Process(ext.server_pid())
    loading = None
    deadline = time.monotonic() + 60
    while loading is None and time.monotonic() < deadline and verify.poll() is None:
        loading = _suspend_child(control, "pg_restore")  # the scratch cluster stays up meanwhile
    assert loading is not None, "the verify's pg_restore was never seen"
    pid_files = list((ext.home / "tmp").glob("verify-*/pg/data/postmaster.pid"))
    assert len(pid_files) == 1
    scratch = int(pid_files[0].read_text().split()[0])
    os.kill(control.pid, signal.SIGKILL)
    ext.wait_server_gone(control.pid)
    loading.kill()
    verify.wait(timeout=60)
    assert psutil.pid_exists(scratch)  # the scratch server outlived the control plane
    (ext.home / "server.json").unlink(missing_ok=True)
    ext.up()
    deadline = time.monotonic() + 30
    while psutil.pid_exists(scratch) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not psutil.pid_exists(scratch) and not list((ext.home / "tmp").glob("verify-*"))
    verified = ext.cli("backup", "verify", "dev", "--backup", backup_id).stdout
    assert "pg_amcheck ok (2 tables)" in verified, verified


FAILING_MIGRATION = (
    "python -c \"import os, psycopg; c = psycopg.connect(os.environ['DATABASE_URL'], autocommit=True); "
    "c.execute(\\\"INSERT INTO notes (text, created_at) VALUES ('half-done', now())\\\"); "
    'raise SystemExit(3)"'
)


def test_a_failed_migration_puts_the_pre_migrate_dump_back(ext: Shipyard, server: Server) -> None:
    ext.up()
    ext.cli("secrets", "set", "dev", "DB_PASSWORD", input=server.app_password)
    ext.cli("deploy")
    ext.add_note("before")
    ext.manifest["database"]["migrate"]["up"] = FAILING_MIGRATION
    ext.write_manifest()
    done = ext.cli("deploy", check=False)
    said = done.stdout + done.stderr
    assert done.returncode != 0 and "exited with 3" in said, said
    assert "is restored from backup" in said, said
    assert ext.notes() == ["before"]  # the half-done write was undone by the dump taken first
    kinds = [(b["kind"], b["engine"]) for b in ext.backups()]
    assert ("pre-migrate", "postgres") in kinds and ("pre-restore", "postgres") in kinds, kinds


def test_a_drill_of_an_external_server_restores_its_newest_dump(ext: Shipyard, server: Server) -> None:
    notes_exist = {"name": "notes exist", "sql": "SELECT count(*) FROM notes", "expect": "> 0"}
    ext.manifest["database"]["backups"]["verify_queries"] = [notes_exist]
    ext.manifest["database"]["drill"] = {"rto": "2m", "rpo": "1h"}
    ext.write_manifest()
    ext.up()
    ext.cli("secrets", "set", "dev", "DB_PASSWORD", input=server.app_password)
    ext.cli("deploy")
    none = ext.cli("drill", "dev", check=False)  # only the empty pre-migrate dump: the query fails
    assert none.returncode == 1 and "notes exist" in none.stdout, none.stdout
    ext.add_note("in the dump")
    backup_id = ext.cli("backup", "create", "dev").stdout.split()[1]
    out = ext.cli("drill", "dev").stdout
    assert out.startswith("passed"), out
    # a dump never holds the marker written after it: the RPO is the dump's age
    assert f"restored {backup_id}; the marker was not recovered" in out, out
    with ext.api() as api:
        drill = api.get("/api/drills/dev").json()["drills"][0]  # newest first
    assert drill["backup"] == backup_id and drill["rto_ok"] and drill["rpo_ok"], drill
    assert [q["ok"] for q in drill["queries"]] == [True], drill
    assert server.psql("SELECT count(*) FROM shipyard_drill") == "0"  # the markers are deleted
    assert ext.notes() == ["in the dump"]
    assert not list((ext.home / "tmp").glob("*/pg"))  # no scratch cluster left
