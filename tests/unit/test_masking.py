"""Masking: rule decisions against a schema, fake values, and masking a real SQLite copy."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from shipyard.core.masking import (
    Action,
    Column,
    fake_value,
    keyed_hash,
    mask_value,
    masking_key,
    plan_masking,
    sqlite_affinity,
)
from shipyard.drivers.data.sqlite.mask import apply_plan, read_schema, rewrite_clean
from shipyard.errors import ManifestError
from shipyard.manifest.masking import Fixed, TableRules
from shipyard.manifest.models import Manifest

KEY = b"k" * 32
USERS = (
    Column("id", "integer", "INTEGER", False, True),
    Column("email", "text", "TEXT", True),
    Column("name", "text", "VARCHAR(80)"),
    Column("phone", "text", "TEXT"),
    Column("age", "integer", "INT"),
    Column("notes", "text", "TEXT"),
)
SCHEMA = {
    "users": USERS,
    "orders": (Column("id", "integer", "INTEGER", False, True), Column("email", "text", "TEXT")),
    "sqlite_sequence": (Column("name", "blob"), Column("seq", "blob")),
    "shipyard_drill": (Column("id", "text", "TEXT", False, True), Column("at", "real", "REAL", True)),
}
RULES = TypeAdapter(dict[str, TableRules])


def rules(raw: dict[str, Any]) -> dict[str, TableRules]:
    return RULES.validate_python(raw)


@pytest.mark.parametrize(
    ("declared", "kind"),
    [
        ("INTEGER", "integer"),
        ("BIGINT", "integer"),
        ("VARCHAR(80)", "text"),
        ("text", "text"),
        ("CLOB", "text"),
        ("", "blob"),
        ("BLOB", "blob"),
        ("REAL", "real"),
        ("DOUBLE PRECISION", "real"),
        ("DECIMAL(10,2)", "numeric"),
        ("BOOLEAN", "numeric"),
    ],
)
def test_sqlite_affinity(declared: str, kind: str) -> None:
    assert sqlite_affinity(declared) == kind


def test_a_full_plan_lists_actions_and_what_no_rule_names() -> None:
    plan = plan_masking(
        rules(
            {
                "users": {
                    "email": "fake_email",
                    "name": "fake_name",
                    "phone": "fake_phone",
                    "notes": None,  # YAML `notes: null`
                    "age": {"fixed": 30},
                    "id": "keep",
                }
            }
        ),
        SCHEMA,
    )
    assert [(a.column, a.rule, a.fixed) for a in plan.actions] == [
        ("email", "fake_email", None),
        ("name", "fake_name", None),
        ("phone", "fake_phone", None),
        ("notes", "null", None),
        ("age", "fixed", 30),
    ]
    assert plan.unlisted == ("orders",)  # Shipyard's and SQLite's own tables are not listed


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"user": {"email": "hash"}}, "no table 'user' (tables: orders, users); did you mean 'users'"),
        ({"users": {"emial": "hash"}}, "masking.users.emial: table users has no column 'emial'"),
        ({"users": {"age": "fake_name"}}, "users.age: fake_name writes text, but users.age is INT"),
        ({"users": {"email": "null"}}, "users.email: users.email is NOT NULL, so null cannot"),
        ({"users": {"id": "null"}}, "users.id is the primary key, so null cannot be stored"),
    ],
)  # fmt: skip
def test_rules_that_do_not_fit_the_schema_are_errors_naming_the_key(
    raw: dict[str, Any], message: str
) -> None:
    with pytest.raises(ManifestError) as caught:
        plan_masking(rules(raw), SCHEMA)
    assert message in caught.value.message
    assert "nothing was copied" in caught.value.message


def test_every_bad_rule_is_named_at_once() -> None:
    with pytest.raises(ManifestError) as caught:
        plan_masking(rules({"nope": "keep", "users": {"x": "hash", "y": "hash"}}), SCHEMA)
    for key in ("database.masking.nope", "database.masking.users.x", "database.masking.users.y"):
        assert key in caught.value.message


@pytest.mark.parametrize(
    ("raw", "unlisted"),
    [
        ({"users": {"email": "hash"}}, ("orders", *(f"users.{c}" for c in ("id", "name", "phone", "age", "notes")))),  # noqa: E501
        ({"users": "keep", "orders": {"email": "hash"}}, ("orders.id",)),
        ({"users": "keep", "orders": {"email": "hash", "id": "keep"}}, ()),
        ({"USERS": "keep", "Orders": {"EMAIL": "hash", "id": "keep"}}, ()),  # SQLite names are case-blind
    ],
)  # fmt: skip
def test_unlisted_columns_and_tables(raw: dict[str, Any], unlisted: tuple[str, ...]) -> None:
    assert plan_masking(rules(raw), SCHEMA).unlisted == unlisted


def test_refuse_mode_refuses_what_no_rule_names() -> None:
    with pytest.raises(ManifestError) as caught:
        plan_masking(rules({"users": "keep", "orders": {"email": "hash"}}), SCHEMA, unlisted="refuse")
    assert (
        "no rule names orders.id" in caught.value.message
        and "masking_unlisted is refuse" in caught.value.message
    )
    plan_masking(rules({"users": "keep", "orders": "keep"}), SCHEMA, unlisted="refuse")


@pytest.mark.parametrize(
    "bad", [{"users": {"email": "fake"}}, {"users": "drop"}, {"users": {"email": {"fixd": 1}}}]
)
def test_unknown_rule_names_are_manifest_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        rules(bad)


def test_manifest_takes_masking_and_drill_keys() -> None:
    manifest = Manifest.model_validate(
        {
            "app": "a",
            "processes": {"web": {"command": "true"}},
            "database": {
                "masking": {"users": {"email": "fake_email", "notes": None}},
                "drill": {"rto": "15m", "rpo": "5m", "schedule": "0 3 * * 1"},
            },
            "environments": {"dev": {"port": 18080}},
        }
    )
    db = manifest.database_for("dev")
    assert db.drill.rto == 900 and db.drill.rpo == 300 and db.drill.schedule == "0 3 * * 1"
    assert db.masking == {"users": {"email": "fake_email", "notes": "null"}}
    assert db.masking_unlisted == "warn"
    with pytest.raises(ValidationError, match="write 5"):
        Manifest.model_validate(
            {
                "app": "a",
                "processes": {"web": {"command": "true"}},
                "database": {"drill": {"schedule": "weekly"}},
            }
        )


# fake values --------------------------------------------------------------------------------
ORIGINALS = ["Alice Martin", "alice@corp.example.org", "+31 6 1234 5678", "Bob", "x", "", 42, 3.5, b"\x00raw"]


@pytest.mark.parametrize("rule", ["fake_name", "fake_email", "fake_phone"])
@pytest.mark.parametrize("value", ORIGINALS)
def test_fakes_are_deterministic_keyed_and_never_the_original(rule: str, value: Any) -> None:
    fake = fake_value(KEY, rule, value)
    assert fake == fake_value(KEY, rule, value)  # same original, same fake: joins still match
    assert fake != value and isinstance(fake, str)
    assert fake_value(b"other key" * 4, rule, value) != fake  # nothing to recompute without the key
    if isinstance(value, str) and len(value) > 3:
        assert value.lower() not in fake.lower()


def test_fakes_look_like_what_they_replace() -> None:
    assert re.fullmatch(r"[a-z]+\.[a-z]+\.[0-9a-f]{6}@example\.com", fake_value(KEY, "fake_email", "a@b.c"))
    name = fake_value(KEY, "fake_name", "Alice van Martin")
    assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+ [A-Z][a-z]+", name)  # as many words as the original
    phone = fake_value(KEY, "fake_phone", "+31 (6) 1234-5678")
    assert re.fullmatch(r"\+\d\d \(\d\) \d{4}-\d{4}", phone)  # same shape, other digits


def test_distinct_values_get_distinct_fakes() -> None:
    emails = {fake_value(KEY, "fake_email", f"user{i}@corp.example.org") for i in range(2000)}
    assert len(emails) == 2000  # a UNIQUE column stays unique


@pytest.mark.parametrize(
    ("action", "value", "expected"),
    [
        (Action("t", "c", "null"), "x", None),
        (Action("t", "c", "fixed", "redacted"), "secret", "redacted"),
        (Action("t", "c", "fixed", 0), 1234, 0),
        (Action("t", "c", "fake_name"), None, None),  # NULL stays NULL
        (Action("t", "c", "hash"), None, None),
        (Action("t", "c", "fixed", "x"), None, None),
    ],
)
def test_mask_value(action: Action, value: Any, expected: Any) -> None:
    assert mask_value(KEY, action, value) == expected


def test_hash_is_keyed_hmac_sha256_hex() -> None:
    import hashlib
    import hmac

    assert keyed_hash(KEY, "pw") == hmac.new(KEY, b"s:pw", hashlib.sha256).hexdigest()
    assert keyed_hash(KEY, "1") != keyed_hash(KEY, 1)  # text and integer are different values
    assert masking_key(KEY) != KEY and len(masking_key(KEY)) == 32


def test_fixed_rule_model() -> None:
    assert Fixed(fixed="x").fixed == "x"


# a real SQLite copy -------------------------------------------------------------------------
def test_masking_a_copy_leaves_no_original_byte_in_the_clean_file(tmp_path: Path) -> None:
    db = tmp_path / "copy.sqlite"
    originals = [
        (f"Person{i} Original", f"person{i}@private.example.org", f"+44 7700 9{i:05d}") for i in range(300)
    ]
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL, name TEXT, phone TEXT)"
        )
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, email TEXT REFERENCES users(email))")
        conn.execute("CREATE INDEX users_name ON users(name)")
        conn.executemany(
            "INSERT INTO users (email, name, phone) VALUES (?, ?, ?)", [(e, n, p) for n, e, p in originals]
        )
        conn.executemany("INSERT INTO orders (email) VALUES (?)", [(e,) for _, e, _ in originals[:50]])
        conn.execute("ANALYZE")
    conn.close()
    plan = plan_masking(
        rules({"users": {"email": "fake_email", "name": "fake_name", "phone": "fake_phone", "id": "keep"},
               "orders": {"email": "fake_email", "id": "keep"}}),
        read_schema(db),
    )  # fmt: skip
    assert plan.unlisted == ()
    assert apply_plan(db, plan, KEY) == 350
    clean = tmp_path / "clean.sqlite"
    rewrite_clean(db, clean)
    raw = clean.read_bytes()
    for name, email, phone in originals:
        for value in (name, email, phone):
            assert value.encode() not in raw, value
    assert b"Original" not in raw and b"private.example.org" not in raw
    with sqlite3.connect(clean) as conn:
        joined = conn.execute("SELECT count(*) FROM orders JOIN users USING (email)").fetchone()[0]
        assert joined == 50  # the same original gave the same fake in both tables
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_the_apps_triggers_do_not_fire_and_are_kept(tmp_path: Path) -> None:
    db = tmp_path / "copy.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
        conn.execute("CREATE TABLE history (old TEXT)")
        conn.execute(
            "CREATE TRIGGER keep_old AFTER UPDATE ON users BEGIN INSERT INTO history VALUES (OLD.email); END"
        )
        conn.execute("INSERT INTO users (email) VALUES ('secret@private.example.org')")
    conn.close()
    plan = plan_masking(rules({"users": {"email": "fake_email"}, "history": "keep"}), read_schema(db))
    apply_plan(db, plan, KEY)
    clean = tmp_path / "clean.sqlite"
    rewrite_clean(db, clean)
    assert b"private.example.org" not in clean.read_bytes()
    with sqlite3.connect(clean) as conn:
        assert conn.execute("SELECT count(*) FROM history").fetchone()[0] == 0
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")] == [
            "keep_old"
        ]
    conn.close()


def test_masked_copies_need_rules_and_another_environment(tmp_path: Path) -> None:
    from tests.unit.test_backup_service import make_ctx
    from tests.unit.wiring import backup_service

    from shipyard.engine.data.masking import MaskedCopies
    from shipyard.errors import ConflictError, NotFoundError

    ctx = make_ctx(tmp_path)
    ctx.paths.manifest.write_text(
        "app: notes\nprocesses: {web: {command: 'true'}}\ndatabase: {file: notes.db}\n"
        "environments: {dev: {port: 18080}, staging: {port: 18081}}\n"
    )
    copies = MaskedCopies(backup_service(ctx))
    with pytest.raises(ConflictError, match="into another environment"):
        copies.restore("dev", "t", "dev")
    with pytest.raises(ConflictError, match="into another environment"):
        copies.restore("dev", "t", None)
    with pytest.raises(ManifestError, match=r"database\.masking is empty"):
        copies.restore("dev", "t", "staging")
    with pytest.raises(NotFoundError, match="known: dev, staging"):
        copies.restore("prod", "t", "staging")
