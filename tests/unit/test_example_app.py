"""Tests for the example "notes" app shipped in examples/notes/{v1,v2,broken}."""

import importlib.util
import itertools
import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from fastapi.testclient import TestClient

NOTES_DIR = Path(__file__).resolve().parents[2] / "examples" / "notes"
VERSIONS = ("v1", "v2", "broken")

_counter = itertools.count()

LoadApp = Callable[[str], ModuleType]


@pytest.fixture
def db_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "notes.db"
    monkeypatch.setenv("NOTES_DB", str(path))
    monkeypatch.setenv("SHIPYARD_RELEASE", "r7")
    monkeypatch.setenv("SHIPYARD_COLOUR", "green")
    return path


@pytest.fixture
def load_app() -> Iterator[LoadApp]:
    """Import a version's app.py by path under a unique module name (fresh each call)."""
    names: list[str] = []

    def load(version: str) -> ModuleType:
        name = f"_notes_example_{version}_{next(_counter)}"
        spec = importlib.util.spec_from_file_location(name, NOTES_DIR / version / "app.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        names.append(name)
        spec.loader.exec_module(module)
        return module

    yield load
    for name in names:
        sys.modules.pop(name, None)


def test_requirements_identical_across_versions() -> None:
    contents = {v: (NOTES_DIR / v / "requirements.txt").read_bytes() for v in VERSIONS}
    assert len(set(contents.values())) == 1, contents
    pins = contents["v1"].decode().split()
    assert pins == [
        "fastapi==0.165.0",
        "uvicorn==0.54.0",
        "uvloop==0.23.0",
        "httptools==0.9.0",
    ]


def test_v1_health_healthy(db_file: Path, load_app: LoadApp) -> None:
    with TestClient(load_app("v1").app) as client:
        resp = client.get("/health")
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"status", "version", "services"}
    assert body["status"] == "Healthy"
    assert body["version"] == "1.0.0"
    database = body["services"]["database"]
    assert database["status"] == "Healthy"
    assert isinstance(database["response_time_ms"], float)
    assert database["response_time_ms"] >= 0


def test_v1_root_identifies_version(db_file: Path, load_app: LoadApp) -> None:
    with TestClient(load_app("v1").app) as client:
        resp = client.get("/")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.json() == {"app": "notes", "version": "1.0.0", "release": "r7", "colour": "green"}


def test_root_without_shipyard_env(db_file: Path, load_app: LoadApp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHIPYARD_RELEASE")
    monkeypatch.delenv("SHIPYARD_COLOUR")
    with TestClient(load_app("v1").app) as client:
        body = client.get("/").json()
    assert body["release"] is None and body["colour"] is None


def test_v1_post_then_list(db_file: Path, load_app: LoadApp) -> None:
    with TestClient(load_app("v1").app) as client:
        assert client.get("/notes").json() == []
        created = client.post("/notes", json={"text": "hello"})
        assert created.status_code == 201
        note = created.json()
        assert set(note) == {"id", "text", "created_at"}
        assert note["text"] == "hello"
        assert client.get("/notes").json() == [note]

        assert client.post("/notes", json={"text": ""}).status_code == 422
        assert client.post("/notes", json={"text": "x" * 1001}).status_code == 422
        assert client.post("/notes", json={}).status_code == 422

    with sqlite3.connect(db_file) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_v1_health_unhealthy_when_db_unusable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, load_app: LoadApp
) -> None:
    monkeypatch.setenv("NOTES_DB", str(tmp_path / "missing-dir" / "notes.db"))
    with TestClient(load_app("v1").app) as client:  # startup logs, does not crash
        resp = client.get("/health")
        assert client.get("/").status_code == 200
    assert resp.status_code == 503
    body = resp.json()
    assert body["status"] == "Unhealthy"
    assert body["version"] == "1.0.0"
    database = body["services"]["database"]
    assert database["status"] == "Unhealthy"
    assert isinstance(database["error"], str) and database["error"]


def test_data_dir_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, load_app: LoadApp) -> None:
    monkeypatch.delenv("NOTES_DB", raising=False)
    monkeypatch.setenv("SHIPYARD_DATA_DIR", str(tmp_path))
    with TestClient(load_app("v1").app) as client:
        assert client.post("/notes", json={"text": "persisted"}).status_code == 201
    assert (tmp_path / "notes.db").exists()


def test_v2_expand_migration_keeps_v1_working(db_file: Path, load_app: LoadApp) -> None:
    v1, v2 = load_app("v1"), load_app("v2")
    with TestClient(v1.app) as blue:
        old = blue.post("/notes", json={"text": "from v1"}).json()

        # Green (v2) starts while blue (v1) is still serving the same file.
        with TestClient(v2.app) as green:
            assert green.get("/health").json()["version"] == "2.0.0"
            assert green.get("/").json()["version"] == "2.0.0"
            new = green.post("/notes", json={"text": "from v2", "tags": ["a", "b c"]})
            assert new.status_code == 201
            assert new.json()["tags"] == ["a", "b c"]
            untagged = green.post("/notes", json={"text": "no tags"}).json()
            assert untagged["tags"] == []

            # v1 still reads and writes after the migration, ignoring the new column.
            listed = blue.get("/notes").json()
            assert [n["text"] for n in listed] == ["from v1", "from v2", "no tags"]
            assert all(set(n) == {"id", "text", "created_at"} for n in listed)
            assert blue.post("/notes", json={"text": "v1 again"}).status_code == 201
            assert blue.get("/health").status_code == 200

            by_text = {n["text"]: n for n in green.get("/notes").json()}
            assert by_text["from v1"] == {**old, "tags": []}
            assert by_text["from v2"]["tags"] == ["a", "b c"]
            assert by_text["v1 again"]["tags"] == []

            assert green.post("/notes", json={"text": "x", "tags": ["a,b"]}).status_code == 422
            assert green.post("/notes", json={"text": "x", "tags": [""]}).status_code == 422

    with sqlite3.connect(db_file) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(notes)")]
    assert columns == ["id", "text", "created_at", "tags"]


def test_v2_migration_is_idempotent(db_file: Path, load_app: LoadApp) -> None:
    for _ in range(2):
        with TestClient(load_app("v2").app) as client:
            assert client.get("/health").status_code == 200
            assert client.post("/notes", json={"text": "t", "tags": ["x"]}).status_code == 201
    with TestClient(load_app("v2").app) as client:
        assert [n["tags"] for n in client.get("/notes").json()] == [["x"], ["x"]]


def test_v2_fresh_database(db_file: Path, load_app: LoadApp) -> None:
    with TestClient(load_app("v2").app) as client:
        assert client.get("/notes").json() == []
        assert client.post("/notes", json={"text": "first"}).json()["tags"] == []


def test_broken_never_healthy(db_file: Path, load_app: LoadApp) -> None:
    with TestClient(load_app("broken").app) as client:
        root = client.get("/")
        healths = [client.get("/health") for _ in range(3)]
    assert root.status_code == 200
    assert root.json()["version"] == "3.0.0"
    for resp in healths:
        assert resp.status_code == 503
        assert resp.json() == {
            "status": "Unhealthy",
            "version": "3.0.0",
            "services": {
                "database": {
                    "status": "Unhealthy",
                    "error": "NOTES_DB_SCHEMA_V3 is not configured",
                }
            },
        }


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_database_url_wins_over_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, load_app: LoadApp, version: str
) -> None:
    monkeypatch.delenv("NOTES_DB", raising=False)
    monkeypatch.setenv("SHIPYARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/given.db")
    with TestClient(load_app(version).app) as client:
        assert client.post("/notes", json={"text": "here"}).status_code == 201
    assert (tmp_path / "given.db").exists() and not (tmp_path / "data" / "notes.db").exists()


def test_v1_work_burns_the_cpu_it_is_asked_for(db_file: Path, load_app: LoadApp) -> None:
    with TestClient(load_app("v1").app) as client:
        burnt = client.get("/work", params={"ms": 30}).json()
        assert 30 <= burnt["ms"] < 200 and burnt["spins"] > 0
        assert client.get("/work", params={"ms": 99999}).json()["ms"] < 1100  # bounded
