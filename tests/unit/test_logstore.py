"""The log store and the log service on a real logs.db and real files in a temporary folder.

Follows files (appends, a half-written line, truncation, replacement, a restart), stores
and searches lines, archives by age, deletes old archives and sheds the oldest lines
when the store's quota is reached. The clock is passed in; no control plane is started.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from shipyard.core.logline import MAX_LINE_BYTES
from shipyard.core.traffic import TrafficBook
from shipyard.drivers.observe.logarchive import read_archive
from shipyard.drivers.proxy.accesslog import AccessLogReceiver
from shipyard.drivers.runtime.logfiles import CHUNK, read_new
from shipyard.drivers.runtime.supervisor import LocalRuntime
from shipyard.engine.context import Context
from shipyard.engine.observe.logs import LogService
from shipyard.engine.observe.logsearch import LogQuery
from shipyard.errors import QueryError, StateError
from shipyard.manifest.loader import parse_manifest
from shipyard.state.logs import Filter, LogStore, Row
from shipyard.state.store import open_store

DAY = 86400.0


def test_read_new_follows_appends_truncation_and_replacement(tmp_path: Path) -> None:
    log = tmp_path / "blue-0.log"
    log.write_bytes(b"one\ntwo\nhalf")
    lines, pos = read_new(log, None) or ([], None)
    assert lines == [b"one", b"two"] and pos is not None and pos.offset == 8
    assert read_new(log, pos) is None  # the half line waits for its newline
    with open(log, "ab") as fh:
        fh.write(b" done\nthree\n")
    lines, pos = read_new(log, pos) or ([], pos)
    assert lines == [b"half done", b"three"]
    log.write_bytes(b"new\n")  # truncated (shorter than the offset): from the start again
    lines, pos = read_new(log, pos) or ([], pos)
    assert lines == [b"new"]
    os.rename(log, tmp_path / "old.log")
    log.write_bytes(b"rotated and long enough to pass the offset\n")
    lines, pos = read_new(log, pos) or ([], pos)
    assert lines == [b"rotated and long enough to pass the offset"]


def test_a_line_longer_than_a_read_is_cut_and_its_rest_skipped(tmp_path: Path) -> None:
    log = tmp_path / "blue-0.log"
    log.write_bytes(b"a" * (CHUNK * 2 + 10) + b"\nnext\n")
    first, pos = read_new(log, None) or ([], None)
    assert first == [b"a" * CHUNK] and pos is not None and pos.skipping
    second, pos = read_new(log, pos) or ([], pos)
    assert second == [] and pos.skipping
    third, pos = read_new(log, pos) or ([], pos)
    assert third == [b"next"] and not pos.skipping


MANIFEST = {
    "app": "notes",
    "processes": {"web": {"command": "run"}},
    "environments": {"dev": {"port": 8080}, "prod": {"port": 8081, "logs": {"hot": "30d", "cold": "400d"}}},
    "logs": {"hot": "1d", "cold": "10d"},
}


def _service(tmp_path: Path, max_bytes: int | None = None, manifest: dict[str, Any] = MANIFEST) -> LogService:
    ctx = SimpleNamespace(
        paths=SimpleNamespace(home=tmp_path),
        runtime=LocalRuntime(tmp_path, tmp_path / "envs"),
        manifest=parse_manifest(manifest),
        store=open_store(tmp_path / "state.db"),
    )
    return LogService(cast(Context, ctx), LogStore(tmp_path / "logs.db", max_bytes))


def _write(tmp_path: Path, env: str, name: str, lines: list[str]) -> None:
    path = tmp_path / "envs" / env / "logs" / f"{name}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as fh:
        fh.write("".join(line + "\n" for line in lines).encode())


def _all(service: LogService, env: str = "dev", **filters: Any) -> list[str]:
    return [line["message"] for line in service.search(env, LogQuery(**filters), limit=5000)["lines"]]


def test_ingest_parses_searches_and_survives_a_restart(tmp_path: Path) -> None:
    service = _service(tmp_path)
    _write(tmp_path, "dev", "blue-0", ["--- shipyard: starting instance 1 `run` at now", "INFO: hello"])
    _write(tmp_path, "dev", "blue-0.stderr", ["--- shipyard: starting instance 1 `run` at now"])
    _write(tmp_path, "dev", "blue-0.stderr", ['{"level": "error", "msg": "disk full", "disk": "/srv"}'])
    with open(tmp_path / "envs" / "dev" / "logs" / "blue-0.log", "ab") as fh:
        fh.write(b"bad \xff\n" + b"x" * (MAX_LINE_BYTES + 5) + b"\n")
    service.ingest_once()
    lines = service.search("dev", limit=100)["lines"]
    assert sorted((x["stream"], x["level"]) for x in lines) == [
        ("stderr", "error"),
        ("stdout", "info"),
        ("stdout", "info"),
        ("stdout", "info"),
        ("stdout", "info"),
    ]  # the marker is kept once, from stdout
    lines = [x for x in lines if x["stream"] == "stdout"]
    assert all(x["instance"] == "blue-0" and x["env"] == "dev" for x in lines)
    disk = service.search("dev", LogQuery(grep="disk"))["lines"][0]
    assert disk["message"] == "disk full" and disk["fields"] == {"disk": "/srv"}
    assert [x["truncated"] for x in lines] == [False, False, False, True]
    assert [x["invalid_utf8"] for x in lines] == [False, False, True, False]
    assert _all(service, grep="disk ful") == ["disk full"]
    assert _all(service, grep="disk fu") == []  # a last word shorter than 3 characters is whole
    assert _all(service, level="warn") == ["disk full"]
    assert _all(service, grep="HELLO") == ["INFO: hello"]
    assert _all(service, grep="nothing") == []
    with pytest.raises(QueryError, match="not a time"):
        service.search("dev", LogQuery(since="soon"))

    # a new service on the same files and logs.db (a restarted control plane) reads on
    service.store.close()
    again = _service(tmp_path)
    _write(tmp_path, "dev", "blue-0", ["after restart"])
    again.ingest_once()
    messages = _all(again)
    assert len(messages) == 6 and messages.count("INFO: hello") == 1 and messages[-1] == "after restart"


def test_follow_cursor_returns_each_line_once(tmp_path: Path) -> None:
    service = _service(tmp_path)
    _write(tmp_path, "dev", "blue-0", [f"line {i}" for i in range(5)])
    service.ingest_once()
    first = service.search("dev", limit=2)
    assert [x["message"] for x in first["lines"]] == ["line 3", "line 4"]
    _write(tmp_path, "dev", "blue-0", ["line 5", "line 6"])
    service.ingest_once()
    nxt = service.search("dev", limit=1, after=first["cursor"])
    assert [x["message"] for x in nxt["lines"]] == ["line 5"]
    last = service.search("dev", limit=10, after=nxt["cursor"])
    assert [x["message"] for x in last["lines"]] == ["line 6"]
    assert service.search("dev", after=last["cursor"])["lines"] == []


def test_retention_archives_then_deletes(tmp_path: Path) -> None:
    service = _service(tmp_path)
    now = 1_764_590_400.0
    for age_days, env in ((2, "dev"), (0.5, "dev"), (2, "prod")):
        _write(
            tmp_path, env, "blue-0", [json.dumps({"msg": f"{env} {age_days}d", "time": now - age_days * DAY})]
        )
        service.ingest_once(now - age_days * DAY)
    done = service.enforce_retention(now)
    assert done == {"archived": 1, "deleted": 0}  # dev's 2-day-old line; prod keeps 30 days hot
    assert _all(service) == ["dev 0.5d"]
    archive = service.store.archives("dev")[0]
    assert [r["message"] for r in read_archive(Path(archive.path))] == ["dev 2d"]
    exported = [line["message"] for line in service.export("dev")]
    assert exported == ["dev 2d", "dev 0.5d"]  # cold archives first, then the store
    assert service.enforce_retention(now + 8 * DAY)["deleted"] == 0
    assert service.enforce_retention(now + 9 * DAY)["deleted"] == 1  # 2d + 9d > cold (10d)
    assert not Path(archive.path).exists()
    assert [a.lines for a in service.store.archives("dev")] == [1]  # the 0.5d line, archived at +9d
    assert [line["message"] for line in service.export("dev")] == ["dev 0.5d"]


def test_an_archive_written_before_a_crash_is_removed_and_its_lines_kept(tmp_path: Path) -> None:
    service = _service(tmp_path)
    _write(tmp_path, "dev", "blue-0", ["kept"])
    service.ingest_once()
    orphan = tmp_path / "logs-archive" / "dev" / "20250101T000000-20250101T000000-1.jsonl.zst"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"half")
    service.reconcile_archives()
    assert not orphan.exists() and _all(service) == ["kept"]


def test_a_full_store_archives_its_oldest_lines_and_keeps_taking_new_ones(tmp_path: Path) -> None:
    service = _service(tmp_path, max_bytes=400_000)
    for batch in range(40):
        _write(tmp_path, "dev", "blue-0", [f"batch {batch} line {i} " + "words " * 10 for i in range(200)])
        service.ingest_once()
    assert service.stats["full"] > 0 and service.stats["archived"] > 0
    assert service.store.used_bytes() < 400_000 + 200_000  # one batch past the limit at most
    newest = _all(service, grep="batch 39")
    assert len(newest) == 200  # the newest lines are all there
    assert _all(service, grep="batch 0 line") == []  # the oldest went to cold archives
    cold = [line["message"] for line in service.export("dev", LogQuery(grep="batch 0 line"))]
    assert len(cold) == 200
    assert sum(a.lines for a in service.store.archives()) == service.stats["archived"]


def test_release_and_level_searches(tmp_path: Path) -> None:
    service = _service(tmp_path)
    rows = []
    for i in range(30):
        release = "r1" if i < 10 or i >= 20 else "r2"  # r1 again after r2: its span covers both
        level = 50 if i % 5 == 0 else 30
        rows.append(Row(1000.0 + i, "dev", release, "blue-0", "stdout", level, f"line {i}"))
    service.store.add(rows)
    found = service.store.search(Filter("dev", release="r2"), 100)
    assert [r["message"] for r in found] == [f"line {i}" for i in range(19, 9, -1)]
    found = service.store.search(Filter("dev", release="r1", min_level=50), 100)
    assert [r["message"] for r in found] == ["line 25", "line 20", "line 5", "line 0"]
    assert service.store.search(Filter("dev", release="r9"), 100) == []
    assert list(service.store.scan(Filter("dev", release="r9"))) == []
    assert [r["message"] for r in service.store.scan(Filter("dev", release="r2", min_level=40))] == [
        "line 10",
        "line 15",
    ]


def test_an_unusable_store_is_a_state_error_with_a_hint(tmp_path: Path) -> None:
    junk = tmp_path / "logs.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StateError, match="cannot open the log store") as info:
        LogStore(junk)
    assert "moving logs.db away" in info.value.hint
    newer = tmp_path / "newer.db"
    LogStore(newer).close()
    with sqlite3.connect(newer) as conn:
        conn.execute("PRAGMA user_version=99")
    with pytest.raises(StateError, match="newer than this Shipyard"):
        LogStore(newer)


def test_access_lines_from_the_receiver_are_stored(tmp_path: Path) -> None:
    receiver = AccessLogReceiver(TrafficBook(), tmp_path / "accesslog")
    service = _service(tmp_path)
    service.access_log = receiver
    receiver.start()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(receiver.address)
            for line in (
                b"<134>Dec  1 12:00:00 haproxy[1]: SY fe_dev blue-0 404 3 1764590400.042 -- GET /missing",
                b"SY fe_prod <NOSRV> 503 0 1764590401.000 SC GET /",
                b"not an access line",
            ):
                sock.sendall(b"%d %s" % (len(line), line))
        for _ in range(100):  # wait (bounded) for the receiver's thread
            if len(receiver.sink) == 2 and receiver.malformed == 1:
                break
            time.sleep(0.02)
    finally:
        receiver.stop()
    service.ingest_once()
    dev = service.search("dev")["lines"]
    assert [(x["stream"], x["instance"], x["level"], x["message"], x["at"]) for x in dev] == [
        ("access", "blue-0", "warn", "GET /missing 404 3ms blue-0", 1764590400.042)
    ]
    prod = service.search("prod")["lines"]
    assert [(x["instance"], x["level"], x["message"]) for x in prod] == [("", "error", "GET / 503 0ms")]
    assert not receiver.sink
