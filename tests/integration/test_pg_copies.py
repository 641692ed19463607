"""PostgreSQL restores into another environment, plain and masked, end to end: real CLI,
control plane, the pgnotes app (psycopg) and two managed PostgreSQL 15 clusters
(production and staging)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from tests.integration.conftest import Shipyard
from tests.integration.ports import free_port
from tests.integration.test_postgres import MISSING, wait_for

from shipyard.core.masking import fake_value, keyed_hash, masking_key
from shipyard.drivers.data.backup_crypto import load_backup_key
from shipyard.drivers.data.postgres.programs import find_bin_dir

pytestmark = [pytest.mark.integration, pytest.mark.skipif(bool(MISSING), reason=MISSING)]

PEOPLE = [
    ("Margarethe Quistorp", "margarethe.quistorp@private-mail.example.org", "+49 170 5550 1234"),
    ("Oluwaseun Adebayo-Okafor", "seun.adebayo@private-mail.example.org", "+234 803 555 0199"),
    ("Hjördis Vainikainen", "hjordis@private-mail.example.org", "(358) 40-555-0042"),
]


@pytest.fixture
def pg(shipyard: Shipyard) -> Iterator[Shipyard]:
    with shipyard.home_outside_tmp("shipyard-pgcopy-"):
        shipyard.use_pgnotes(
            {
                "engine": "postgres",
                "managed": True,
                "migrate": {"up": "python migrate.py up", "status": "python migrate.py status"},
                "backups": {"continuous": False, "verify_schedule": None},
            }
        )
        shipyard.manifest["environments"] = {
            "production": {"port": shipyard.port},
            "staging": {"port": free_port()},
            "legacy": {"port": free_port(), "database": {"engine": "sqlite"}},
            "external": {
                "port": free_port(),
                "database": {
                    "engine": "postgres",
                    "managed": False,
                    "url": "postgresql://app:pw@127.0.0.1:9/app",
                    "backups": {"continuous": False},
                },
            },
        }
        shipyard.write_manifest()
        yield shipyard


def pg_folder(sy: Shipyard, env: str) -> Path:
    return sy.home / "envs" / env / "data" / "pg"


def psql(sy: Shipyard, env: str, sql: str, as_app: bool = False) -> str:
    cluster = json.loads((pg_folder(sy, env) / "cluster.json").read_text())
    user, password = (
        ("app", cluster["app_password"]) if as_app else ("postgres", cluster["superuser_password"])
    )
    argv = [str(find_bin_dir() / "psql"), "-X", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1"]
    done = subprocess.run(
        [*argv, "-h", "127.0.0.1", "-p", str(cluster["port"]), "-U", user, "-c", sql, "app"],
        env={**os.environ, "PGPASSWORD": password}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def history(sy: Shipyard, env: str) -> str:
    return sy.cli("deployments", env, "--limit", "1").stdout


def test_restore_into_staging_plain_and_to_a_time(pg: Shipyard) -> None:
    pg.manifest["database"]["backups"]["continuous"] = True
    pg.write_manifest()
    pg.up()
    pg.cli("deploy", "production")
    pg.add_note("one", "production")
    wait_for("a continuous base", lambda: any(b["kind"] == "continuous" for b in pg.backups("production")))
    pg.add_note("two", "production")
    time.sleep(1.5)
    between = time.time()
    time.sleep(1.0)
    pg.add_note("three", "production")

    def window_passed() -> bool:
        ends = [
            float(str(b["recoverable_to"])) for b in pg.backups("production") if b["kind"] == "continuous"
        ]
        return any(end > between + 1.2 for end in ends)

    wait_for("the window to pass the last write", window_passed)

    # staging was never deployed: its cluster is made by the restore, then its app serves the copy
    assert not pg_folder(pg, "staging").exists()
    out = pg.cli("backup", "restore", "production", "--target", "staging").stdout
    assert "into staging" in out and "safety backup: none" in out, out
    steps = history(pg, "staging")
    for step in (
        "fetch",
        "safety-backup",
        "restore",
        "recovered into a scratch cluster",
        "had no PostgreSQL",
    ):
        assert step in steps, steps
    pg.cli("deploy", "staging")
    assert pg.notes("staging") == ["one", "two", "three"]
    pg.add_note("staging's own", "staging")  # writable by staging's app role: it owns the copy
    assert psql(pg, "staging", "SELECT tableowner FROM pg_tables WHERE tablename = 'notes'") == "app"
    staging = json.loads((pg_folder(pg, "staging") / "cluster.json").read_text())
    production = json.loads((pg_folder(pg, "production") / "cluster.json").read_text())
    assert staging["port"] != production["port"] and staging["app_password"] != production["app_password"]

    # a point in time into the running staging: the state then; production is untouched
    out = pg.cli(
        "backup", "restore", "production", "--target", "staging", "--to-time", f"{between:.3f}"
    ).stdout
    assert "as of" in out and "into staging" in out, out
    assert pg.notes("staging") == ["one", "two"]
    assert [b["kind"] for b in pg.backups("staging") if b["kind"] == "pre-restore"] == ["pre-restore"]
    assert pg.notes("production") == ["one", "two", "three"]
    assert "pre-restore" not in [b["kind"] for b in pg.backups("production")]
    databases = psql(pg, "staging", "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database")
    assert databases == "app,postgres,template0,template1", databases  # no leftover copy
    assert not [p for p in pg_folder(pg, "production").iterdir() if p.name.startswith("copy-")]
    pg.add_note("after", "staging")  # the sequence came along: no duplicate key
    assert pg.notes("staging") == ["one", "two", "after"]

    # a copy that fails half-way (an extension staging's app role may not create) leaves
    # staging's database as it was, and no half-made database behind
    psql(pg, "production", "CREATE EXTENSION pg_buffercache")
    marked = time.time()
    wait_for(
        "the window to pass the extension",
        lambda: any(
            float(str(b["recoverable_to"])) > marked + 0.5
            for b in pg.backups("production")
            if b["kind"] == "continuous"
        ),
    )
    failed = pg.cli("backup", "restore", "production", "--target", "staging", check=False)
    assert failed.returncode == 1 and "pg_restore into app_restoring failed" in failed.stderr, failed.stderr
    assert "permission denied to create extension" in failed.stderr, failed.stderr
    assert pg.notes("staging") == ["one", "two", "after"]
    assert psql(pg, "staging", "SELECT count(*) FROM pg_database WHERE datname LIKE 'app_%'") == "0"
    assert "failed" in history(pg, "staging")

    # mixed engines are refused, nothing is made
    mixed = pg.cli("backup", "restore", "production", "--target", "legacy", check=False)
    assert mixed.returncode == 1 and "whose database is sqlite" in mixed.stderr, mixed.stderr
    assert not pg_folder(pg, "legacy").exists()
    external = pg.cli("backup", "restore", "production", "--target", "external", check=False)
    assert external.returncode == 1 and "external's database is an external server" in external.stderr, (
        external.stderr
    )


def raw_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def test_masked_copy_into_staging_leaves_no_personal_data_in_its_cluster(pg: Shipyard) -> None:
    pg.manifest["database"]["masking"] = {
        "notes": {"text": "hash", "id": "keep"},
        "people": {
            "name": "fake_name",
            "email": "fake_email",
            "phone": "fake_phone",
            "password_hash": "hash",
            "avatar": "hash",
            "notes": None,
            "country": {"fixed": "XX"},
        },
        "crm.contacts": {"email": "fake_email"},  # a table outside public: schema.table
    }
    pg.write_manifest()
    pg.up()
    pg.cli("deploy", "production")
    pg.cli("deploy", "staging")
    for name, email, phone in PEOPLE:
        pg.add_note(f"call {name} at {phone} or {email}", "production")
    contacts = ", ".join(f"('{email}')" for _, email, _ in PEOPLE)
    psql(
        pg, "production",
        "CREATE TABLE people (id bigserial PRIMARY KEY, name text, email varchar(200) UNIQUE, phone text, "
        "password_hash text NOT NULL, avatar bytea, notes text, country char(2), joined int);"
        "CREATE INDEX people_name ON people (name);"
        "CREATE TABLE people_log (name text, at timestamptz DEFAULT now());"
        "CREATE FUNCTION log_people() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN INSERT INTO people_log (name) VALUES (OLD.name); RETURN NEW; END $$;"
        "CREATE TRIGGER people_changed AFTER UPDATE ON people FOR EACH ROW EXECUTE FUNCTION log_people();"
        "CREATE EXTENSION citext;"  # trusted: staging's app role may create it in the copy
        "CREATE SCHEMA crm; CREATE TABLE crm.contacts (email citext);"
        f"INSERT INTO crm.contacts VALUES {contacts}",
        as_app=True,
    )  # fmt: skip
    values = ", ".join(
        f"('{n}', '{e}', '{p}', '$argon2id$secret-of-{n}', convert_to('photo of {n}', 'UTF8'), "
        f"'{n} prefers email', 'DE', 2020)"
        for n, e, p in PEOPLE
    )
    psql(
        pg, "production",
        "INSERT INTO people (name, email, phone, password_hash, avatar, notes, country, joined) "
        f"VALUES {values};"
        "ANALYZE people",  # statistics hold samples of the values: they must not travel either
        as_app=True,
    )  # fmt: skip
    assert psql(pg, "production", "SELECT count(*) FROM people_log") == "0"
    pg.cli("backup", "create", "production")
    pg.add_note("staging's own", "staging")
    kept = {str(b["id"]) for b in pg.backups("staging")}

    # a rule naming a column the copy lacks: refused before anything reaches staging
    pg.manifest["database"]["masking"]["people"]["emial"] = "fake_email"
    pg.write_manifest()
    refused = pg.cli("backup", "restore", "production", "--target", "staging", "--mask", check=False)
    assert refused.returncode == 1
    assert "database.masking.people.emial: table people has no column 'emial'" in refused.stderr, (
        refused.stderr
    )
    assert "did you mean 'email'" in refused.stderr
    assert {str(b["id"]) for b in pg.backups("staging")} == kept  # not even the safety backup was taken
    assert pg.notes("staging") == ["staging's own"]
    del pg.manifest["database"]["masking"]["people"]["emial"]
    # a rule the schema accepts but a value does not fit: fails while masking, staging untouched
    pg.manifest["database"]["masking"]["people"]["joined"] = {"fixed": "not a number"}
    pg.write_manifest()
    refused = pg.cli("backup", "restore", "production", "--target", "staging", "--mask", check=False)
    assert refused.returncode == 1 and "masking the scratch copy (psql) failed" in refused.stderr, (
        refused.stderr
    )
    assert "the target was not touched" in refused.stderr
    assert {str(b["id"]) for b in pg.backups("staging")} == kept and pg.notes("staging") == ["staging's own"]
    del pg.manifest["database"]["masking"]["people"]["joined"]
    pg.write_manifest()

    out = pg.cli("backup", "restore", "production", "--target", "staging", "--mask").stdout
    assert "into staging" in out and "masked people.email: fake_email" in out, out
    assert "kept as they are (no masking rule): notes.created_at, people.id, people.joined" in out, out
    assert "people_log, schema_version" in out, out
    steps = history(pg, "staging")
    for step in ("fetch", "mask", "safety-backup", "restore", "masked 9 column(s) in 9 row(s)"):
        assert step in steps, steps
    assert [b["kind"] for b in pg.backups("staging") if str(b["id"]) not in kept] == ["pre-restore"]

    # the values: the same fakes a SQLite copy gets, NULL, fixed, untouched columns intact
    key = masking_key(load_backup_key(pg.home / "backup.key").key)
    rows = psql(
        pg, "staging",
        "SELECT name, email, phone, password_hash, encode(avatar, 'escape'), coalesce(notes, '<null>'), "
        "country, joined FROM people ORDER BY id",
    ).splitlines()  # fmt: skip
    assert len(rows) == 3
    for row, (name, email, phone) in zip(rows, PEOPLE, strict=True):
        got = row.split("|")
        assert got[0] == fake_value(key, "fake_name", name)
        assert got[1] == fake_value(key, "fake_email", email)
        assert re.fullmatch(r"[a-z]+\.[a-z]+\.[0-9a-f]{6}@example\.com", got[1])
        assert got[2] == fake_value(key, "fake_phone", phone)
        assert got[3] == keyed_hash(key, f"$argon2id$secret-of-{name}")
        assert got[4] == keyed_hash(key, f"photo of {name}".encode())
        assert got[5:] == ["<null>", "XX", "2020"]
    assert psql(pg, "staging", "SELECT count(*) FROM people_log") == "0"  # the trigger did not fire
    copied = psql(pg, "staging", "SELECT email FROM crm.contacts").splitlines()
    assert sorted(copied) == sorted(fake_value(key, "fake_email", e) for _, e, _ in PEOPLE)  # joins match
    served = pg.notes("staging")
    assert len(served) == 3 and all(re.fullmatch(r"[0-9a-f]{64}", t) for t in served), served
    pg.add_note("written in staging", "staging")  # the masked copy is staging's own, writable

    # no original value anywhere in staging's cluster folder (data files, WAL, logs)
    psql(pg, "staging", "CHECKPOINT")
    raw = raw_bytes(pg_folder(pg, "staging"))
    for person in PEOPLE:
        for value in person:
            assert value.encode() not in raw, value
    for secret in (b"argon2id", b"private-mail", b"prefers email", b"Quistorp", b"photo of"):
        assert secret not in raw, secret
    psql(pg, "production", "CHECKPOINT")  # the scan finds them where they are
    assert PEOPLE[0][1].encode() in raw_bytes(pg_folder(pg, "production") / "data")
    assert len(pg.notes("production")) == 3 and PEOPLE[0][0] in pg.notes("production")[0]
    assert not [p for p in pg_folder(pg, "production").iterdir() if p.name.startswith("copy-")]
    assert not list((pg.home / "tmp").glob("copy-*"))  # the exported values are gone


def scratch_clusters(sy: Shipyard) -> list[Path]:
    return [p for p in pg_folder(sy, "production").iterdir() if p.name.startswith("copy-to-")]


def test_a_copy_killed_before_its_swap_converges_at_restart(pg: Shipyard) -> None:
    pg.up(SHIPYARD_FAILPOINT="copy:before-swap")
    pg.cli("deploy", "production")
    pg.cli("deploy", "staging")
    pg.add_note("from production", "production")
    pg.add_note("staging's own", "staging")
    pg.cli("backup", "create", "production")
    server = pg.server_pid()
    killed = pg.cli("backup", "restore", "production", "--target", "staging", check=False)
    assert killed.returncode != 0
    pg.wait_server_gone(server)
    assert pg.notes("staging") == ["staging's own"]  # the copy was made, not swapped in
    assert (
        psql(pg, "staging", "SELECT datname FROM pg_database WHERE datname LIKE 'app_%'") == "app_restoring"
    )
    [scratch] = scratch_clusters(pg)
    postmaster = int((scratch / "data" / "postmaster.pid").read_text().split()[0])
    assert psutil.pid_exists(postmaster)  # the scratch cluster outlived the control plane

    (pg.home / "server.json").unlink(missing_ok=True)
    pg.up()
    wait_for("the scratch cluster to stop", lambda: not psutil.pid_exists(postmaster), 20)
    assert scratch_clusters(pg) == []
    assert psql(pg, "staging", "SELECT count(*) FROM pg_database WHERE datname LIKE 'app_%'") == "0"
    assert pg.notes("staging") == ["staging's own"]
    pg.cli("backup", "restore", "production", "--target", "staging")
    assert pg.notes("staging") == ["from production"]
