"""The verify query suite: expectation parsing and judging (tables), the manifest's checks, and
the read-only SQLite runner on a real file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from shipyard.core.verify_queries import (
    Expectation,
    QueryCheck,
    evaluate,
    parse_expectation,
    run_suite,
    summarize,
)
from shipyard.drivers.data.db_query import sqlite_rows
from shipyard.errors import BackupError, ManifestError
from shipyard.manifest.loader import parse_manifest
from shipyard.manifest.verify_queries import VerifyQuery


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rows", Expectation("rows")),
        (" No   Rows ", Expectation("no rows")),
        ("> 0", Expectation(">", "0")),
        (">0", Expectation(">", "0")),
        (">= 10", Expectation(">=", "10")),
        ("<2.5", Expectation("<", "2.5")),
        ("<= -1", Expectation("<=", "-1")),
        ("!= 3", Expectation("!=", "3")),
        ("= 42", Expectation("=", "42")),
        ("== 42", Expectation("=", "42")),
        ("42", Expectation("=", "42")),
        ("= ok", Expectation("=", "ok")),
        ("ok", Expectation("=", "ok")),
    ],
)
def test_parse_expectation(text: str, expected: Expectation) -> None:
    assert parse_expectation(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expect is empty"),
        ("   ", "expect is empty"),
        ("> many", "> needs a number"),
        (">= ", "needs a number"),
        ("< nan", "< needs a number"),
    ],
)
def test_parse_expectation_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_expectation(text)


@pytest.mark.parametrize(
    ("expect", "rows", "ok", "got"),
    [
        ("rows", [("1",)], True, "1 row, first value '1'"),
        ("rows", [], False, "no rows"),
        ("no rows", [], True, "no rows"),
        ("no rows", [("x",), ("y",)], False, "2 rows, first value 'x'"),
        ("> 0", [("3",)], True, "1 row, first value '3'"),
        ("> 0", [("0",)], False, "1 row, first value '0'"),
        ("> 0", [], False, "no rows"),
        ("> 0", [(None,)], False, "1 row, first value NULL"),
        (">= 3", [("3",)], True, "1 row, first value '3'"),
        ("<= 3", [("3.0",)], True, "1 row, first value '3.0'"),
        ("< 3", [("3",)], False, "1 row, first value '3'"),
        ("!= 3", [("4",)], True, "1 row, first value '4'"),
        ("= 3", [("3.0",)], True, "1 row, first value '3.0'"),  # numbers compare as numbers
        ("= 3", [("4",)], False, "1 row, first value '4'"),
        ("= ok", [("ok", "more")], True, "1 row, first value 'ok'"),
        ("= ok", [("OK",)], False, "1 row, first value 'OK'"),
        ("> 1", [("many",)], False, "1 row, first value 'many' (not a number)"),
        ("= a", [("x" * 100,)], False, f"1 row, first value '{'x' * 60}...'"),  # a long value is cut
    ],
)
def test_evaluate(expect: str, rows: list[tuple[str | None, ...]], ok: bool, got: str) -> None:
    check = evaluate("q", parse_expectation(expect), rows)
    assert (check.ok, check.got) == (ok, got)
    assert check.expected == str(parse_expectation(expect))


def test_summarize_names_each_failure() -> None:
    checks = [
        QueryCheck("a", True, "rows", "1 row, first value '1'"),
        QueryCheck("notes exist", False, "> 0", "1 row, first value '0'"),
        QueryCheck("c", False, "rows", "error: no such table: x"),
    ]
    assert summarize(checks[:1]) == (True, "1 verify query passed")
    ok, said = summarize(checks)
    assert not ok
    assert said == (
        "verify query 'notes exist' returned 1 row, first value '0', expected > 0; "
        "verify query 'c' returned error: no such table: x, expected rows"
    )


def test_run_suite_keeps_going_after_an_error() -> None:
    queries = [VerifyQuery(name="bad", sql="SELECT x"), VerifyQuery(name="good", sql="SELECT 1", expect=1)]

    def run(sql: str, timeout: float) -> list[tuple[str | None, ...]]:
        if sql == "SELECT x":
            raise BackupError("no such column: x")
        return [("1",)]

    checks = run_suite(queries, run)
    assert [(c.name, c.ok, c.got) for c in checks] == [
        ("bad", False, "error: no such column: x"),
        ("good", True, "1 row, first value '1'"),
    ]


# the manifest ----------------------------------------------------------------------------------
def manifest(queries: object) -> object:
    return parse_manifest(
        {
            "app": "notes",
            "processes": {"web": {"command": "true"}},
            "database": {"backups": {"verify_queries": queries}},
            "environments": {"dev": {"port": 18080}},
        }
    )


def test_manifest_takes_a_suite() -> None:
    found = manifest(
        [{"name": "n", "sql": "SELECT 1", "expect": 1, "timeout": "5s"}, {"name": "m", "sql": "x"}]
    )
    queries = found.database_for("dev").backups.verify_queries  # type: ignore[attr-defined]
    assert [(q.name, q.expect, q.timeout) for q in queries] == [("n", "1", 5.0), ("m", "rows", 30.0)]


KEY = "database.backups.verify_queries"
ONE = {"name": "n", "sql": "SELECT 1"}


@pytest.mark.parametrize(
    ("queries", "where", "message"),
    [
        ([{**ONE, "expect": "> lots"}], f"{KEY}[0].expect", "needs a number"),
        ([{"name": "n", "sql": "  ;"}], f"{KEY}[0].sql", "sql is empty"),
        ([{"sql": "SELECT 1"}], f"{KEY}[0].name", "required"),
        ([{**ONE, "expected": 1}], f"{KEY}[0].expected", "unknown key"),
        ([ONE, {**ONE, "sql": "SELECT 2"}], KEY, "two verify queries are named 'n'"),
        ([{**ONE, "timeout": "0s"}], f"{KEY}[0].timeout", "greater than 0"),
    ],
)
def test_manifest_names_the_key_path(queries: object, where: str, message: str) -> None:
    with pytest.raises(ManifestError) as caught:
        manifest(queries)
    text = f"{caught.value.message} {caught.value.hint}"
    assert where in text and message in text, text


# the SQLite runner -----------------------------------------------------------------------------
@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "copy.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT, blob BLOB)")
        conn.executemany("INSERT INTO notes (text, blob) VALUES (?, ?)", [("a", b"\x01"), (None, None)])
    conn.close()
    return path


def test_sqlite_rows_reads_as_text(db: Path) -> None:
    rows = sqlite_rows(db, "SELECT id, text, blob FROM notes ORDER BY id", 5)
    assert rows == [("1", "a", "01"), ("2", None, None)]


def test_sqlite_rows_is_read_only(db: Path) -> None:
    with pytest.raises(BackupError, match=r"readonly|read-only"):
        sqlite_rows(db, "DELETE FROM notes", 5)
    assert sqlite_rows(db, "SELECT count(*) FROM notes", 5) == [("2",)]


def test_sqlite_rows_times_out(db: Path) -> None:
    endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n"
    with pytest.raises(BackupError, match=r"timed out after 0\.2s"):
        sqlite_rows(db, endless, 0.2)
