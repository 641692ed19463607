"""PostgreSQL masking and copies, their pure parts: column kinds, SQL literals and names, the
original -> fake maps (CSV as PostgreSQL's COPY reads and writes it), quiet error tails."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from shipyard.core.masking import LONGEST, Action, Column, fake_value, keyed_hash, plan_masking
from shipyard.drivers.data.postgres.copy import _tail
from shipyard.drivers.data.postgres.mask import (
    PgSchema,
    _file,
    _mask_file,
    literal,
    pg_kind,
    quote,
    table_update,
)
from shipyard.errors import BackupError, ManifestError

KEY = b"k" * 32


@pytest.mark.parametrize(
    ("data_type", "kind"),
    [
        ("text", "text"),
        ("character varying", "text"),
        ("character", "text"),
        ("citext", "text"),
        ("bytea", "blob"),
        ("integer", "integer"),
        ("bigint", "integer"),
        ("double precision", "real"),
        ("numeric", "numeric"),
        ("timestamp with time zone", "numeric"),
        ("jsonb", "numeric"),
        ("uuid", "numeric"),
        ("ARRAY", "numeric"),
    ],
)
def test_pg_kind(data_type: str, kind: str) -> None:
    assert pg_kind(data_type) == kind


def test_a_text_rule_on_a_json_column_is_refused_with_its_type() -> None:
    schema = {
        "people": (Column("id", "integer", "bigint", True, True), Column("doc", pg_kind("jsonb"), "jsonb"))
    }
    with pytest.raises(
        ManifestError, match=r"database.masking.people.doc: fake_name writes text, but people.doc is jsonb"
    ):
        plan_masking({"people": {"doc": "fake_name"}}, schema)


@pytest.mark.parametrize(
    ("value", "sql"),
    [("XX", "'XX'"), ("O'Brien", "'O''Brien'"), (0, "'0'"), (2.5, "'2.5'"), (None, "NULL")],
)
def test_literal(value: str | int | float | None, sql: str) -> None:
    assert literal(value) == sql


def test_names_are_quoted_and_each_table_is_rewritten_by_one_update() -> None:
    schema = PgSchema(
        {
            "people": (Column("e", "text"), Column("pic", "blob"), Column("n", "numeric")),
            "audit.log": (Column("who", "text"),),
        },
        {"people": ("public", "people"), "audit.log": ("audit", "log")},
    )
    assert quote('we"ird') == '"we""ird"'
    assert schema.qualified("people") == '"public"."people"'
    assert schema.qualified("audit.log") == '"audit"."log"'
    people = [
        (0, Action("people", "e", "fake_email")),
        (1, Action("people", "pic", "hash")),
        (2, Action("people", "n", "null")),
    ]
    assert table_update(schema, "people", people) == (
        'UPDATE "public"."people" AS t SET '
        '"e" = (SELECT m.fake FROM shipyard_mask_0 AS m WHERE m.orig = t."e"::text), '
        "\"pic\" = (SELECT convert_to(m.fake, 'UTF8') FROM shipyard_mask_1 AS m "
        "WHERE m.orig = encode(t.\"pic\", 'hex')), "
        '"n" = NULL;'
    )
    assert table_update(schema, "audit.log", [(3, Action("audit.log", "who", "fixed", "x'y"))]) == (
        """UPDATE "audit"."log" AS t SET "who" = CASE WHEN t."who" IS NULL THEN t."who" ELSE 'x''y' END;"""
    )


def test_the_map_holds_the_same_fakes_as_sqlite_and_survives_csv_quoting(tmp_path: Path) -> None:
    originals = ["Ann, Lee", 'say "hi"', "two\nlines", "", "Hjördis Vainikainen"]
    found = tmp_path / "values.csv"
    with open(found, "w", newline="", encoding="utf-8") as fh:  # as COPY ... (FORMAT csv) writes
        csv.writer(fh, lineterminator="\n").writerows([v] for v in originals)
    masked = tmp_path / "masked.csv"
    _mask_file(KEY, Action("people", "name", "fake_name"), "text", found, masked)
    assert masked.stat().st_mode & 0o777 == 0o600
    with open(masked, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows == [[v, fake_value(KEY, "fake_name", v)] for v in originals]
    assert '""' in masked.read_text()  # an empty string stays a string for COPY (unquoted is NULL)


def test_bytea_originals_travel_as_hex_and_hash_as_bytes(tmp_path: Path) -> None:
    found = tmp_path / "values.csv"
    found.write_text(b"photo of Ann".hex() + "\n")
    masked = tmp_path / "masked.csv"
    _mask_file(KEY, Action("people", "avatar", "hash"), "blob", found, masked)
    with open(masked, newline="") as fh:
        assert list(csv.reader(fh)) == [[b"photo of Ann".hex(), keyed_hash(KEY, b"photo of Ann")]]


def test_copy_errors_keep_out_the_lines_that_quote_rows() -> None:
    err = (
        'pg_restore: error: COPY failed for table "people": ERROR:  duplicate key value\n'
        "DETAIL:  Key (email)=(ann@private.example.org) already exists.\n"
        'CONTEXT:  COPY people, line 2: "2\tAnn\tann@private.example.org"\n'
    )
    assert "private" not in _tail(err) and "duplicate key value" in _tail(err)


def test_copy_files_are_quoted_and_odd_paths_refused() -> None:
    assert _file(Path("/srv/home/tmp/copy-b-1/values-0.csv")) == "'/srv/home/tmp/copy-b-1/values-0.csv'"
    for odd in ("/srv/o'neil/v.csv", "/srv/back\\slash/v.csv", "/srv/new\nline/v.csv"):
        with pytest.raises(BackupError, match="quote, backslash or newline"):
            _file(Path(odd))


def test_the_longest_values_of_hash_and_fake_email_hold() -> None:
    emails = [fake_value(KEY, "fake_email", f"person{i}@mail.example.org") for i in range(3000)]
    assert max(len(e) for e in emails) <= LONGEST["fake_email"] and min(len(e) for e in emails) >= 28
    assert len(keyed_hash(KEY, "x")) == LONGEST["hash"]


@pytest.mark.parametrize(
    ("rule", "length", "refused"),
    [("hash", 63, True), ("hash", 64, False), ("fake_email", 31, True), ("fake_email", 32, False),
     ("fake_name", 10, False), ("null", 1, False)],
)  # fmt: skip
def test_a_rule_whose_values_may_not_fit_the_column_is_refused_up_front(
    rule: str, length: int, refused: bool
) -> None:
    schema = {"people": (Column("code", "text", f"character varying({length})", max_length=length),)}
    if not refused:
        assert plan_masking({"people": {"code": rule}}, schema).actions[0].rule == rule
        return
    with pytest.raises(ManifestError, match=rf"database.masking.people.code: {rule} writes up to"):
        plan_masking({"people": {"code": rule}}, schema)
