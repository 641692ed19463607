"""Migration 0008 (runtime-neutral instances): a control plane upgraded while its instances run
adopts them. A state.db at revision 0007 holds a row for a live process; after ``open_store``
the row's endpoint and runtime ref name the same process and port, the process runtime says it
is alive, and reconciliation adopts it rather than restarting it. The downgrade gives the old
columns back, value for value."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import psutil
import pytest
import yaml
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine
from tests.unit.fakes import FakeBuilder, FakeProber, FakeProxy

from shipyard.core.records import Owner
from shipyard.drivers.runtime.supervisor import LocalRuntime
from shipyard.engine.context import Context
from shipyard.engine.delivery.reconcile import reconcile_at_start
from shipyard.home import Paths
from shipyard.manifest.loader import parse_manifest
from shipyard.state.store import open_store

MANIFEST = {
    "app": "notes",
    "processes": {"web": {"command": "python -m notes"}},
    "environments": {"dev": {"port": 18080, "instances": 1}},
}


def migrate(db: Path, revision: str, downgrade: bool = False) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("shipyard.state") / "migrations"))
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if downgrade else command.upgrade)(cfg, revision)
    engine.dispose()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process as the old runtime left it: its own session, its home in its environment."""
    env = {"SHIPYARD_HOME": str(tmp_path / "home"), "SHIPYARD_INSTANCE_ID": "1", "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(["sleep", "60"], env=env, start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def old_row(db: Path, pid: int, create_time: float, log: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO releases (id, number, created_at, checksum, deps_hash, path, manifest, source)"
            " VALUES ('r1', 1, 0, 'sum', 'deps', '/releases/r1', 'app: notes', '/app')"
        )
        conn.execute(
            "INSERT INTO routes (env, active_colour, active_release, updated_at)"
            " VALUES ('dev', 'blue', 'r1', 0)"
        )
        conn.execute(
            "INSERT INTO instances (env, colour, slot, release_id, port, pid, create_time, state,"
            " restarts, started_at, log_path)"
            " VALUES ('dev', 'blue', 0, 'r1', 41234, ?, ?, 'running', 2, 5.0, ?)",
            (pid, create_time, log),
        )


def test_an_instance_running_across_the_upgrade_is_adopted(
    tmp_path: Path, live: subprocess.Popen[bytes]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    db = home / "state.db"
    migrate(db, "0007")
    started = psutil.Process(live.pid).create_time()
    log = str(home / "envs" / "dev" / "logs" / "blue-0.log")
    old_row(db, live.pid, started, log)

    store = open_store(db)  # upgrades to head, as a new control plane does at start
    (inst,) = store.instances("dev")
    assert (inst.endpoint, inst.state, inst.restarts, inst.started_at) == (
        "127.0.0.1:41234",
        "running",
        2,
        5.0,
    )
    assert json.loads(inst.runtime_ref or "") == {"pid": live.pid, "create_time": started, "log": log}

    runtime = LocalRuntime(home, home / "envs")
    assert runtime.alive(inst.runtime_ref) and runtime.pid(inst.runtime_ref) == live.pid
    (tmp_path / "shipyard.yaml").write_text(yaml.safe_dump(MANIFEST))
    ctx = Context(
        paths=Paths(home, tmp_path),
        store=store,
        proxy=FakeProxy(),
        runtime=runtime,
        builder=FakeBuilder(home / "releases"),
        prober=FakeProber(),
        owner=Owner(1, 0.0),
        manifest=parse_manifest(MANIFEST),
        manifest_text="app: notes",
    )
    done = reconcile_at_start(ctx)
    assert f"adopted dev/blue-0 (pid {live.pid})" in done
    assert not any("orphan" in line for line in done)  # instance 1 is known: not an orphan
    assert live.poll() is None  # still running, not restarted
    layout = ctx.proxy.layouts[-1]  # type: ignore[attr-defined]
    assert [s.address for s in layout.backend("dev").servers if s.address] == ["127.0.0.1:41234"]
    store.close()


def test_the_downgrade_gives_the_process_columns_back(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    migrate(db, "0007")
    old_row(db, 4242, 1700000000.25, "/h/envs/dev/logs/blue-0.log")
    before = _instances(db)
    migrate(db, "0008")
    migrate(db, "0007", downgrade=True)
    assert _instances(db) == before


def test_a_row_never_started_keeps_no_process(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    migrate(db, "0007")
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO releases (id, number, created_at, checksum, deps_hash, path, manifest, source)"
            " VALUES ('r1', 1, 0, 'sum', 'deps', '/releases/r1', 'app: notes', '/app')"
        )
        conn.execute(
            "INSERT INTO instances (env, colour, slot, release_id, port, pid, create_time, state,"
            " restarts, started_at, log_path)"
            " VALUES ('dev', 'green', 1, 'r1', 40001, NULL, NULL, 'starting', 0, 1.0, 'x')"
        )
    store = open_store(db)
    (inst,) = store.instances("dev")
    runtime = LocalRuntime(tmp_path, tmp_path / "envs")
    assert inst.endpoint == "127.0.0.1:40001" and not runtime.alive(inst.runtime_ref)
    assert runtime.pid(inst.runtime_ref) is None
    store.close()


def _instances(db: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT id, env, colour, slot, release_id, port, pid, create_time, state, restarts, started_at,"
            " log_path FROM instances ORDER BY id"
        ).fetchall()


def test_0009_makes_every_existing_row_a_web_instance_and_its_downgrade_drops_only_workers(
    tmp_path: Path,
) -> None:
    from shipyard.core.records import NewInstance

    db = tmp_path / "state.db"
    migrate(db, "0007")
    old_row(db, 4242, 1700000000.25, "/h/envs/dev/logs/blue-0.log")
    migrate(db, "0008")
    before = _rows(db)
    store = open_store(db)  # 0009 at open
    (web,) = store.instances("dev", process=None)
    assert (web.process, web.name, web.endpoint) == ("web", "blue-0", "127.0.0.1:41234")
    store.add_instance(NewInstance("dev", "blue", 0, "r1", 6.0, "queue"))
    assert [i.name for i in store.instances("dev", process=None)] == ["blue-0", "queue-blue-0"]
    assert [i.name for i in store.instances("dev")] == ["blue-0"]  # web's by default
    store.close()
    migrate(db, "0008", downgrade=True)
    assert _rows(db) == before


def _rows(db: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT * FROM instances ORDER BY id").fetchall()
