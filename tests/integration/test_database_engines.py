"""One contract every database engine passes: SQLite, managed PostgreSQL, external PostgreSQL.

Like litestream's ``RunWithReplicaClient``, the same tests run against each implementation of
``DatabaseEngine`` (``engine/data/engines.py``), at the level of the data services (the backup
service, masked copies, drills on a real state store and a temporary home; no control plane,
proxy or app): backup, verify, restore, a point in time (or the engine's documented refusal),
a masked copy into another environment (or the refusal), and a drill. The live databases are
real: a SQLite file, a cluster Shipyard runs, and a PostgreSQL 15 server the test starts as
``test_pg_external.py`` does. The tests of one engine share its environment and run in order.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import pytest
from tests.integration.test_pg_external import MISSING, Server, external_server
from tests.unit.wiring import backup_service

from shipyard.core.records import Owner
from shipyard.engine.context import Context
from shipyard.engine.data.backups import BackupService
from shipyard.engine.data.database import sqlite_file
from shipyard.engine.data.drill import Drills
from shipyard.engine.data.engines import DatabaseEngine
from shipyard.engine.data.masking import MaskedCopies
from shipyard.errors import BackupError
from shipyard.home import Paths
from shipyard.manifest.loader import load_manifest
from shipyard.state.store import open_store

pytestmark = pytest.mark.integration
ENGINES = ["sqlite", "managed pg", "external pg"]  # pytest ids: test_x[managed pg]
NEEDS_PG = pytest.mark.skipif(bool(MISSING), reason=MISSING)
TABLE = "CREATE TABLE notes (id {key}, text TEXT NOT NULL, email TEXT)"
MASKING = {"notes": {"id": "keep", "text": "keep", "email": "fake_email"}}


@dataclass
class Engine:
    """One engine under test: the data services of a temporary home, and its live databases."""

    name: str
    service: BackupService
    sql: Callable[[str, str], str]  # (env, statement) -> psql-like output, on the live database
    admin: Callable[[str, str], str] | None = None  # the same as a superuser (default: ``sql``)

    @property
    def engine(self) -> DatabaseEngine:
        return self.service.engines.for_env("dev")

    def notes(self, env: str = "dev") -> str:
        return ",".join(self.sql(env, "SELECT text FROM notes ORDER BY id").splitlines())

    def add(self, text: str, env: str = "dev") -> None:
        self.sql(env, f"INSERT INTO notes (text, email) VALUES ('{text}', '{text}@private.example.org')")


@pytest.fixture(
    scope="module", params=[pytest.param(e, marks=NEEDS_PG if "pg" in e else ()) for e in ENGINES]
)
def db(request: pytest.FixtureRequest) -> Iterator[Engine]:
    root = Path(tempfile.mkdtemp(prefix="shipyard-engines-"))
    root.chmod(0o711)  # PostgreSQL runs as its own OS user under root: it passes through
    try:
        if request.param == "sqlite":
            yield _sqlite(root)
        elif request.param == "managed pg":
            yield from _managed(root)
        else:
            yield from _external(root, request.getfixturevalue("ext_server"))
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def ext_server() -> Iterator[Server]:
    with external_server() as made:
        yield made


def _service(root: Path, database: dict[str, Any]) -> BackupService:
    manifest = {
        "app": "contract",
        "processes": {"web": {"command": "true"}},
        "database": {**database, "masking": MASKING},
        "environments": {"dev": {"port": 18780}, "staging": {"port": 18781}},
    }
    (root / "shipyard.yaml").write_text(json.dumps(manifest))  # YAML reads JSON
    home = root / "home"
    home.mkdir(mode=0o711)
    none = cast(Any, None)
    ctx = Context(
        paths=Paths(home, root), store=open_store(home / "state.db"), proxy=none, runtime=none,
        builder=none, prober=none, owner=Owner(1, 0.0), manifest=load_manifest(root / "shipyard.yaml"),
        manifest_text="",
    )  # fmt: skip
    return backup_service(ctx)


def _sqlite(root: Path) -> Engine:
    service = _service(root, {"file": "notes.db"})

    def sql(env: str, statement: str) -> str:
        with sqlite3.connect(sqlite_file(service.ctx, env)) as conn:
            rows = conn.execute(statement).fetchall()
        return "\n".join("|".join(str(v) for v in row) for row in rows)

    for env in ("dev", "staging"):
        sqlite_file(service.ctx, env).parent.mkdir(parents=True)
        sql(env, "PRAGMA journal_mode=WAL")
        sql(env, TABLE.format(key="INTEGER PRIMARY KEY"))
    return Engine("sqlite", service, sql)


def _managed(root: Path) -> Iterator[Engine]:
    service = _service(root, {"engine": "postgres", "managed": True})
    clusters = service.engines.clusters
    try:
        clusters.ensure("dev")
        engine = Engine(
            "managed pg",
            service,
            lambda env, s: clusters.pg.sql(clusters.app_conn(env), s),
            lambda env, s: clusters.pg.sql(clusters.conn(env, "app"), s),
        )
        engine.sql("dev", TABLE.format(key="serial PRIMARY KEY"))
        yield engine
    finally:
        clusters.stop_all()


def _external(root: Path, ext: Server) -> Iterator[Engine]:
    url = f"postgresql://app:{quote(ext.app_password, safe='')}@127.0.0.1:{ext.port}/app"
    service = _service(root, {"engine": "postgres", "url": url})
    ext.psql(TABLE.format(key="serial PRIMARY KEY") + "; ALTER TABLE notes OWNER TO app")
    yield Engine("external pg", service, lambda env, s: ext.psql(s))


def _wait(done: Callable[[], bool], what: str, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while not done():
        assert time.monotonic() < deadline, f"{what} within {limit:g}s"
        time.sleep(0.05)


# the contract ----------------------------------------------------------------------------------
def test_backup_is_catalogued_and_verifies(db: Engine) -> None:
    db.add("one")
    record = db.service.create("dev", reason="contract")
    assert record.status == "complete" and record.size > 0 and record.checksum, record
    assert db.service.engines.for_record(record) is db.engine  # restored by the engine that took it
    verified = db.service.verify("dev", record.id)
    assert verified.verification is not None and verified.verification.ok, verified.verification
    assert db.service.catalog("dev").find(record.id).verification == verified.verification


def test_restore_puts_the_backup_back_after_a_safety_backup(db: Engine) -> None:
    before = db.notes()
    record = db.service.create("dev")
    db.add("after the backup")
    done = db.service.restore("dev", "contract", record.id)
    assert db.notes() == before
    assert done["restored"] == record.id and done["safety_backup"], done
    safety = db.service.catalog("dev").find(done["safety_backup"])
    assert safety.kind == "pre-restore" and safety.good
    assert db.service.ctx.store.deployment(done["deployment"]).status == "succeeded"


def test_point_in_time_or_its_refusal(db: Engine) -> None:
    if not db.engine.point_in_time:
        with pytest.raises(BackupError, match="not a point in time") as refused:
            db.service.restore("dev", "contract", to_time=time.time())
        assert refused.value.hint
        return
    shipper = db.engine.shipper("dev")
    assert shipper is not None
    shipper.start()
    try:
        _wait(lambda: shipper.base_id is not None, f"{db.name}'s shipper took its base")
        db.add("kept")
        written = time.time()
        _wait(lambda: (shipper.last_shipped_at or 0) > written, "the write was shipped")
        point = time.time()
        time.sleep(0.2)
        db.add("lost")
        written = time.time()
        _wait(lambda: (shipper.last_shipped_at or 0) > written, "the second write was shipped")
    finally:
        shipper.stop()
    assert db.notes().endswith("kept,lost")
    done = db.service.restore("dev", "contract", to_time=point)
    assert db.notes().endswith("kept"), db.notes()
    assert done["point"]["asked"] == point and not done["point"]["newest"], done["point"]


def test_masked_copy_into_another_environment_or_its_refusal(db: Engine) -> None:
    copies = MaskedCopies(db.service)
    if not db.engine.into_other_environments:
        with pytest.raises(BackupError, match="managed PostgreSQL clusters only"):
            copies.restore("dev", "contract", "staging")
        return
    db.add("to mask")  # each test makes what it needs: xdist may run it on a worker of its own
    db.service.create("dev")
    done = copies.restore("dev", "contract", "staging")
    assert done["masked"] == ["notes.email: fake_email"] and done["rows"] > 0, done
    assert db.notes("staging") == db.notes("dev")  # kept columns are the source's
    emails = db.sql("staging", "SELECT email FROM notes").split()
    assert emails and not any("private.example.org" in e for e in emails), emails


def test_drill_recovers_from_the_storage_and_cleans_up(db: Engine) -> None:
    db.service.create("dev")
    record = Drills(db.service).run("dev", "contract")
    assert record.status in ("passed", "failed") and not record.error, record
    assert record.backup and record.rto_s is not None and record.rto_s > 0, record
    assert Drills(db.service).history("dev")[-1].id == record.id
    admin = db.admin or db.sql
    assert admin("dev", "SELECT count(*) FROM shipyard_drill") == "0"  # the markers are gone
