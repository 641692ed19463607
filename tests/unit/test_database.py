"""The database key of shipyard.yaml, DATABASE_URL, and the example app's migrations."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shipyard.core.database import database_url, is_external, sqlite_path
from shipyard.errors import ManifestError
from shipyard.manifest.loader import parse_manifest

NOTES = Path(__file__).resolve().parents[2] / "examples" / "notes"


def base(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "app": "notes",
        "processes": {"web": {"command": "x"}},
        "environments": {"dev": {"port": 8080}, "prod": {"port": 8081}},
    }
    data.update(extra)
    return data


def test_default_is_sqlite_in_the_data_folder(tmp_path: Path) -> None:
    m = parse_manifest(base())
    db = m.database_for("dev")
    assert (db.engine, db.migrate) == ("sqlite", None)
    assert sqlite_path(db, tmp_path) == tmp_path / "app.db"
    assert database_url(db, tmp_path) == f"sqlite:///{tmp_path.resolve()}/app.db"
    assert not is_external(db)


def test_environment_overrides_the_keys_it_sets() -> None:
    m = parse_manifest(
        base(
            database={"file": "notes.db", "migrate": {"up": "m up"}, "backups": {"schedule": "0 * * * *"}},
            environments={
                "dev": {"port": 8080, "database": {"backups": {"schedule": "*/5 * * * *"}}},
                "prod": {"port": 8081, "database": {"engine": "postgres", "url": "postgresql://db/notes"}},
            },
        )
    )
    dev, prod = m.database_for("dev"), m.database_for("prod")
    assert (dev.file, dev.backups.schedule, dev.migrate and dev.migrate.up) == (
        "notes.db",
        "*/5 * * * *",
        "m up",
    )
    assert (prod.engine, prod.file, prod.url) == ("postgres", None, "postgresql://db/notes")
    assert prod.migrate is not None and prod.backups.schedule == "0 * * * *"  # kept across engines
    assert database_url(prod, Path("/x")) == "postgresql://db/notes"
    assert is_external(prod) and not is_external(dev)  # backed up with pg_dump


@pytest.mark.parametrize(
    ("database", "where"),
    [
        ({"engine": "mysql"}, "database.engine: Input should be 'sqlite' or 'postgres'"),
        ({"engine": "postgres"}, "database: engine: postgres needs exactly one of"),
        ({"engine": "postgres", "managed": True, "url": "postgresql://x"}, "needs exactly one of"),
        ({"engine": "postgres", "url": "mysql://x"}, "url must start with postgresql://"),
        ({"engine": "postgres", "managed": True, "file": "a.db"}, "file is a SQLite setting"),
        ({"url": "postgresql://x"}, "managed and url are PostgreSQL settings"),
        ({"file": "../escape.db"}, "must be a plain file name"),
        (
            {"backups": {"schedule": "every hour"}},
            "database.backups.schedule: schedule 'every hour' has 2 fields",
        ),
        ({"backups": {"retention": {"hourly": -1}}}, "database.backups.retention.hourly"),
        ({"migrate": {"down": "x"}}, "database.migrate.up: required key is missing"),
        ({"backup": {}}, "database.backup: unknown key 'backup'; did you mean 'backups'?"),
    ],
)
def test_bad_database_settings_name_the_key(database: dict[str, Any], where: str) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(base(database=database))
    assert where in info.value.message, info.value.message


def test_the_url_never_appears_in_a_validation_error() -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(base(database={"engine": "postgres", "url": "mysql://user:hunter2@db/x"}))
    assert "hunter2" not in info.value.message


def migrate(version: str, command: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, str(NOTES / version / "migrate.py"), command],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=True,
    )
    return done.stdout


def test_example_migrations_read_database_url(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    env = {"DATABASE_URL": f"sqlite:///{path}", "NOTES_DB": ""}
    assert "-- 1: create table notes" in migrate("v1", "plan", env)
    assert not path.exists()  # planning creates no database
    assert "applied 1: create table notes" in migrate("v1", "up", env)
    assert "pending: ['add column notes.tags']" in migrate("v2", "status", env)
    plan = migrate("v2", "plan", env)
    assert "-- schema version 1; 1 pending" in plan and "ALTER TABLE notes ADD COLUMN tags TEXT;" in plan
    assert "PRAGMA user_version = 2;" in plan
    with sqlite3.connect(path) as conn:  # and changes nothing
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert "applied 2: add column notes.tags" in migrate("v2", "up", env)
    assert "applied" not in migrate("v2", "up", env)  # nothing pending twice
    # the old release runs on the expanded schema: its `up` leaves it alone
    assert "newer than this release's 1: nothing to do" in migrate("v1", "up", env)
    with sqlite3.connect(path) as conn:
        assert [r[1] for r in conn.execute("PRAGMA table_info(notes)")] == [
            "id",
            "text",
            "created_at",
            "tags",
        ]
    assert "reverted 2" in migrate("v2", "down", env)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert "tags" not in [r[1] for r in conn.execute("PRAGMA table_info(notes)")]
