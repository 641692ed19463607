"""Masking a copy of a database: which column gets which rule, and the masked values. Pure.

``plan_masking`` checks ``database.masking`` against the schema of the restored copy
(every named table and column must exist, a rule must fit its column's type and
constraints) before anything is copied anywhere, and lists what no rule names
(``masking_unlisted``: kept with a warning, or refused). ``mask_value`` computes a masked
value: fake names, emails and phone numbers are derived from a keyed HMAC of the original
value, so the same original gives the same fake in every table and row (joins on a masked
column still match), never the original itself, and nothing of it can be read back without
the key. ``hash`` is the keyed HMAC-SHA256 hex. The schema comes from the engine's driver
(``drivers/data/sqlite/mask.py`` for SQLite), described by engine-neutral column kinds. Called
by ``engine/data/masking.py``.
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from shipyard.errors import ManifestError

Kind = Literal["text", "integer", "real", "numeric", "blob"]
Value = str | int | float | bytes | None
TEXT_RULES = ("fake_name", "fake_email", "fake_phone", "hash")
SKIPPED_TABLES = ("shipyard_drill",)  # Shipyard's own drill markers: no personal data
FAKE_DOMAIN = "example.com"  # reserved for examples (RFC 2606): never a real mailbox
LONGEST = {"hash": 64, "fake_email": 32}  # characters at most (28-32 for an email), known up front
_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"


class Fixed(Protocol):
    """A ``{fixed: VALUE}`` column rule (``manifest/masking.py``): every non-NULL value becomes it."""

    @property
    def fixed(self) -> str | int | float: ...


ColumnRule = str | Fixed  # a rule's name (``fake_name``, ``null``, ``keep``...) or a fixed value
TableRules = Literal["keep"] | Mapping[str, ColumnRule]  # ``keep`` (the whole table), or a rule per column


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    declared: str = ""  # the type as the schema declares it, for messages
    notnull: bool = False
    primary_key: bool = False
    max_length: int | None = None  # characters a value may have (PostgreSQL's varchar(n), char(n))


@dataclass(frozen=True)
class Action:
    table: str
    column: str
    rule: str  # one of TEXT_RULES, "null", "fixed"
    fixed: str | int | float | None = None


@dataclass(frozen=True)
class MaskPlan:
    actions: tuple[Action, ...]
    unlisted: tuple[str, ...]  # "table" (kept whole) or "table.column" (kept), no rule names them

    def tables(self) -> dict[str, list[Action]]:
        grouped: dict[str, list[Action]] = {}
        for action in self.actions:
            grouped.setdefault(action.table, []).append(action)
        return grouped


def sqlite_affinity(declared: str) -> Kind:
    """SQLite's type affinity of a declared column type (its documented rules, in order)."""
    upper = declared.upper()
    if "INT" in upper:
        return "integer"
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
        return "text"
    if upper == "" or "BLOB" in upper:
        return "blob"
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        return "real"
    return "numeric"


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def skipped(table: str) -> bool:
    return table.lower().startswith("sqlite_") or table in SKIPPED_TABLES


def plan_masking(
    rules: Mapping[str, TableRules],
    schema: Mapping[str, tuple[Column, ...]],
    unlisted: str = "warn",
    where: str = "database.masking",
) -> MaskPlan:
    """The masking to apply to a copy with ``schema``; ``ManifestError`` naming every bad rule."""
    errors: list[str] = []
    actions: list[Action] = []
    tables = {name.lower(): name for name in schema if not skipped(name)}
    named: dict[str, set[str]] = {}
    for table_key, table_rules in rules.items():
        table = tables.get(table_key.lower())
        if table is None:
            known = sorted(tables.values())
            errors.append(
                f"{where}.{table_key}: the copy has no table {table_key!r} "
                f"(tables: {', '.join(known) or 'none'}){_suggest(table_key, known)}"
            )
            continue
        if table_rules == "keep":
            named[table] = {c.name for c in schema[table]}
            continue
        columns = {c.name.lower(): c for c in schema[table]}
        named[table] = set()
        for column_key, rule in table_rules.items():
            path = f"{where}.{table_key}.{column_key}"
            column = columns.get(column_key.lower())
            if column is None:
                known = [c.name for c in schema[table]]
                errors.append(
                    f"{path}: table {table} has no column {column_key!r} "
                    f"(columns: {', '.join(known)}){_suggest(column_key, known)}"
                )
                continue
            named[table].add(column.name)
            problem = rule_problem(rule, column, table)
            if problem:
                errors.append(f"{path}: {problem}")
            elif rule != "keep":
                fixed = None if isinstance(rule, str) else rule.fixed
                actions.append(Action(table, column.name, rule if isinstance(rule, str) else "fixed", fixed))
    if errors:
        raise ManifestError(
            "the masking rules do not fit the restored copy's schema (nothing was copied): "
            + "; ".join(errors),
            "fix database.masking in shipyard.yaml to name tables and columns as the schema has them",
        )
    left = _unlisted(schema, named)
    if unlisted == "refuse" and left:
        raise ManifestError(
            f"{where}: no rule names {', '.join(left)}, and database.masking_unlisted is refuse "
            "(nothing was copied)",
            "give each a rule (`keep` for a column or a whole table without personal data)",
        )
    return MaskPlan(tuple(actions), left)


def rule_problem(rule: ColumnRule, column: Column, table: str) -> str | None:
    """Why ``rule`` cannot apply to ``column``, or None."""
    name = rule if isinstance(rule, str) else "fixed"
    where = f"{table}.{column.name}"
    if name in TEXT_RULES and column.kind not in ("text", "blob"):
        return (
            f"{name} writes text, but {where} is {column.declared or column.kind}: "
            "use keep, null or fixed: VALUE"
        )
    longest = LONGEST.get(name)
    if longest is not None and column.max_length is not None and column.max_length < longest:
        return (
            f"{name} writes up to {longest} characters, but {where} is {column.declared}: "
            "use null or fixed: VALUE, or widen the column"
        )
    if name == "null" and (column.notnull or column.primary_key):
        what = "the primary key" if column.primary_key else "NOT NULL"
        return f"{where} is {what}, so null cannot be stored: use hash or fixed: VALUE"
    if name in TEXT_RULES and column.primary_key and column.kind != "text":
        return f"{where} is the primary key: use keep"
    return None


def _unlisted(schema: Mapping[str, tuple[Column, ...]], named: dict[str, set[str]]) -> tuple[str, ...]:
    left: list[str] = []
    for table in sorted(schema):
        if skipped(table):
            continue
        if table not in named:
            left.append(table)
            continue
        left += [f"{table}.{c.name}" for c in schema[table] if c.name not in named[table]]
    return tuple(left)


# masked values ------------------------------------------------------------------------------
def _canonical(value: Value) -> bytes:
    if isinstance(value, bytes):
        return b"b:" + value
    if isinstance(value, bool | int):
        return b"i:%d" % value
    if isinstance(value, float):
        return b"f:" + repr(value).encode()
    return b"s:" + str(value).encode()


def keyed_hash(key: bytes, value: Value) -> str:
    """HMAC-SHA256 (hex) of the value: equal values stay equal, nothing is readable."""
    return hmac.new(key, _canonical(value), hashlib.sha256).hexdigest()


def _stream(key: bytes, kind: str, value: Value, attempt: int) -> Iterator[int]:
    """Deterministic bytes for one value: HMAC blocks in counter mode."""
    block = 0
    while True:
        msg = b"%s\0%d\0%d\0" % (kind.encode(), attempt, block) + _canonical(value)
        yield from hmac.new(key, msg, hashlib.sha256).digest()
        block += 1


def _word(stream: Iterator[int]) -> str:
    syllables = 2 + next(stream) % 2
    text = "".join(
        _CONSONANTS[next(stream) % len(_CONSONANTS)] + _VOWELS[next(stream) % len(_VOWELS)]
        for _ in range(syllables)
    )
    return text.capitalize()


def _digits(stream: Iterator[int], count: int) -> str:
    return "".join(str(next(stream) % 10) for _ in range(count))


def _fake_name(stream: Iterator[int], value: Value) -> str:
    words = len(str(value).split()) if isinstance(value, str) else 2
    return " ".join(_word(stream) for _ in range(min(max(words, 1), 4)))


def _fake_email(stream: Iterator[int], value: Value) -> str:
    tag = "".join(f"{next(stream):02x}" for _ in range(3))
    return f"{_word(stream).lower()}.{_word(stream).lower()}.{tag}@{FAKE_DOMAIN}"


def _fake_phone(stream: Iterator[int], value: Value) -> str:
    """Same shape as the original (its separators kept, every digit replaced)."""
    if not isinstance(value, str) or sum(ch.isdigit() for ch in value) < 4:
        return "+1 555 " + _digits(stream, 7)
    return "".join(_digits(stream, 1) if ch.isdigit() else ch for ch in value)


_FAKES = {"fake_name": _fake_name, "fake_email": _fake_email, "fake_phone": _fake_phone}


def fake_value(key: bytes, rule: str, value: Value) -> str:
    """The fake of ``value`` under ``rule`` (``fake_name``, ``fake_email``, ``fake_phone``):
    the same for the same value and key, never equal to the value."""
    make = _FAKES[rule]
    for attempt in range(100):
        fake = make(_stream(key, rule, value, attempt), value)
        if not isinstance(value, str) or fake.lower() != value.lower():
            return fake
    raise AssertionError("unreachable: 100 fakes equal to the original")  # pragma: no cover


def mask_value(key: bytes, action: Action, value: Value) -> Value:
    """The masked value of one cell; NULL stays NULL under every rule."""
    if value is None or action.rule == "null":
        return None
    if action.rule == "fixed":
        return action.fixed
    if action.rule == "hash":
        return keyed_hash(key, value)
    return fake_value(key, action.rule, value)


def masking_key(backup_key: bytes) -> bytes:
    """The masking key, derived from the backup key (kept apart from the data)."""
    return hmac.new(backup_key, b"shipyard masking key v1", hashlib.sha256).digest()
