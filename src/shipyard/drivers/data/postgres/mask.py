"""Masking a scratch PostgreSQL cluster's database in place: its schema and the UPDATEs.

``read_schema`` describes the user tables (every schema but PostgreSQL's own; a table of
``public`` by its bare name, any other as ``schema.table``) from ``information_schema`` for
``core.masking.plan_masking``. ``apply_plan`` masks with the very functions the SQLite copy
uses (``core.masking.mask_value``), so a value gets the same fake in both engines: one
``psql`` run exports each masked column's distinct values (``\\copy ... TO`` a CSV file in
the job's private folder), Python computes original -> masked, and one more ``psql`` run,
a single transaction with ``session_replication_role = replica`` (the app's triggers do
not fire, so none copies an original value elsewhere), loads each map into a temporary
table and rewrites each masked table with one UPDATE (each masked column's fake looked up in
its map; ``null`` and ``fixed`` as expressions), so every row gets one new version. The CSV
files go as soon as the UPDATEs ran. No freed page of the scratch cluster ever leaves it:
the copy into the target is logical (``drivers/data/postgres/copy.py``). Called by
``engine/data/masking.py`` (``PgMasker``).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

from shipyard.core.masking import Action, Column, Kind, MaskPlan, Value, mask_value
from shipyard.drivers.data.interface import Conn, PostgresPrograms
from shipyard.errors import BackupError, DatabaseError

UNIT, RECORD = "\x1f", "\x1e"  # psql's field and record separators: never in a name
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema")
_KINDS: dict[str, Kind] = {
    "text": "text", "character varying": "text", "character": "text", "name": "text",
    "citext": "text",  # the citext extension's case-insensitive text (a user-defined type)
    "bytea": "blob",
    "smallint": "integer", "integer": "integer", "bigint": "integer",
    "real": "real", "double precision": "real",
}  # fmt: skip
SCHEMA_SQL = f"""
SELECT c.table_schema, c.table_name, c.column_name,
       CASE WHEN c.data_type = 'USER-DEFINED' THEN c.udt_name ELSE c.data_type END,
       coalesce(c.character_maximum_length::text, ''),
       c.is_nullable = 'NO',
       EXISTS (SELECT 1 FROM information_schema.table_constraints tc
               JOIN information_schema.key_column_usage k
                 ON k.constraint_schema = tc.constraint_schema AND k.constraint_name = tc.constraint_name
               WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = c.table_schema
                 AND tc.table_name = c.table_name AND k.column_name = c.column_name)
FROM information_schema.columns c
JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
WHERE t.table_type = 'BASE TABLE' AND c.table_schema NOT IN {SYSTEM_SCHEMAS}
  AND c.table_schema NOT LIKE 'pg\\_toast%' AND c.table_schema NOT LIKE 'pg\\_temp%'
ORDER BY c.table_schema, c.table_name, c.ordinal_position
"""


def pg_kind(data_type: str) -> Kind:
    """The engine-neutral kind of a column of ``information_schema.columns.data_type`` (its
    ``udt_name`` for a user-defined type such as ``citext``);
    every type that is not text, bytes or a number (dates, json, uuid, ...) is ``numeric``,
    which takes ``keep``, ``null`` and ``fixed`` only."""
    return _KINDS.get(data_type, "numeric")


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class PgSchema:
    """A database's user tables: columns by the name rules use, and where each table is."""

    tables: dict[str, tuple[Column, ...]] = field(default_factory=dict)
    places: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (schema, table)

    def qualified(self, name: str) -> str:
        schema, table = self.places[name]
        return f"{quote(schema)}.{quote(table)}"

    def kind(self, table: str, column: str) -> Kind:
        return next(c.kind for c in self.tables[table] if c.name == column)


def read_schema(pg: PostgresPrograms, conn: Conn) -> PgSchema:
    """Every user table of ``conn``'s database with its columns."""
    out = _psql(pg, conn, ["-F", UNIT, "-R", RECORD, "-c", SCHEMA_SQL], "reading the copy's schema")
    columns: dict[str, list[Column]] = {}
    places: dict[str, tuple[str, str]] = {}
    for record in out.split(RECORD):
        if not record.strip():
            continue
        schema, table, column, data_type, length, notnull, primary = record.strip("\n").split(UNIT)
        declared = f"{data_type}({length})" if length else data_type
        name = table if schema == "public" else f"{schema}.{table}"
        places[name] = (schema, table)
        columns.setdefault(name, []).append(
            Column(
                column,
                pg_kind(data_type),
                declared,
                notnull == "t",
                primary == "t",
                int(length) if length else None,
            )
        )
    return PgSchema({name: tuple(cols) for name, cols in columns.items()}, places)


def apply_plan(
    pg: PostgresPrograms, conn: Conn, schema: PgSchema, plan: MaskPlan, key: bytes, work: Path
) -> int:
    """Mask ``conn``'s database in place; returns how many rows the masked tables hold."""
    mapped = [(i, a) for i, a in enumerate(plan.actions) if a.rule not in ("null", "fixed")]
    files = [(work / f"values-{i}.csv", work / f"masked-{i}.csv") for i, _ in mapped]
    try:
        export = [
            f"\\copy (SELECT DISTINCT {_as_text(schema, a)} FROM {schema.qualified(a.table)} "
            f"WHERE {quote(a.column)} IS NOT NULL) TO {_file(found)} WITH (FORMAT csv)"
            for (_, a), (found, _) in zip(mapped, files, strict=True)
        ]
        counts = [f"SELECT count(*) FROM {schema.qualified(t)};" for t in plan.tables()]
        out = _script(pg, conn, work / "export.sql", [*export, *counts], "reading the values to mask")
        rows = sum(int(line) for line in out.split() if line.strip())
        for (_, action), (found, masked) in zip(mapped, files, strict=True):
            _mask_file(key, action, schema.kind(action.table, action.column), found, masked)
            found.unlink()
        updates = ["SET session_replication_role = replica;"]  # no trigger, no FK action fires
        for (i, _), (_, masked) in zip(mapped, files, strict=True):
            updates += [
                f"CREATE TEMP TABLE {_temp(i)} (orig text PRIMARY KEY, fake text NOT NULL) ON COMMIT DROP;",
                f"\\copy {_temp(i)} FROM {_file(masked)} WITH (FORMAT csv)",
            ]
        indexed = list(enumerate(plan.actions))
        for table in plan.tables():
            updates.append(table_update(schema, table, [(i, a) for i, a in indexed if a.table == table]))
        _script(pg, conn, work / "mask.sql", updates, "masking the scratch copy", single=True)
        return rows
    finally:
        for pair in files:
            for path in pair:
                path.unlink(missing_ok=True)


def _as_text(schema: PgSchema, action: Action) -> str:
    column = quote(action.column)
    return (
        f"encode({column}, 'hex')"
        if schema.kind(action.table, action.column) == "blob"
        else f"{column}::text"
    )


def _mask_file(key: bytes, action: Action, kind: Kind, found: Path, masked: Path) -> None:
    """original -> masked value, one CSV row each (bytea originals travel as hex)."""
    with (
        open(found, newline="", encoding="utf-8") as src,
        open(masked, "w", newline="", encoding="utf-8", opener=_private) as dst,
    ):
        writer = csv.writer(dst, quoting=csv.QUOTE_ALL, lineterminator="\n")  # "" stays "", not NULL
        for row in csv.reader(src):
            original: Value = bytes.fromhex(row[0]) if kind == "blob" else row[0]
            writer.writerow([row[0], mask_value(key, action, original)])


def _file(path: Path) -> str:
    """``path`` quoted for psql's ``\\copy``; a path holding a quote, a backslash or a newline
    is refused rather than escaped."""
    if any(ch in str(path) for ch in "'\\\n"):
        raise BackupError(
            f"the scratch folder {path.parent} has a quote, backslash or newline in its path",
            "put the Shipyard home (--home) in a folder whose path has none",
        )
    return f"'{path}'"


def _temp(index: int) -> str:
    return f"shipyard_mask_{index}"


def table_update(schema: PgSchema, table: str, actions: list[tuple[int, Action]]) -> str:
    """One UPDATE rewriting every masked column of ``table`` (one new version of each row):
    a mapped column looks its fake up in its temporary map (NULL finds none and stays NULL),
    ``null`` and ``fixed`` are expressions."""
    sets = []
    for index, action in actions:
        column = quote(action.column)
        blob = schema.kind(table, action.column) == "blob"
        if action.rule == "null":
            value = "NULL"
        elif action.rule == "fixed":  # the literal takes the column's type (CASE resolves to it)
            value = f"CASE WHEN t.{column} IS NULL THEN t.{column} ELSE {literal(action.fixed)} END"
        else:
            fake = "convert_to(m.fake, 'UTF8')" if blob else "m.fake"
            match = f"encode(t.{column}, 'hex')" if blob else f"t.{column}::text"
            value = f"(SELECT {fake} FROM {_temp(index)} AS m WHERE m.orig = {match})"
        sets.append(f"{column} = {value}")
    return f"UPDATE {schema.qualified(table)} AS t SET {', '.join(sets)};"


def literal(value: str | int | float | None) -> str:
    """A ``fixed`` value as a SQL string literal, which PostgreSQL reads as the column's type
    (``'5'`` fits an integer column and a text one; ``'abc'`` in an integer one is an error)."""
    if value is None:
        return "NULL"
    return "'" + str(value).replace("'", "''") + "'"


def _script(
    pg: PostgresPrograms, conn: Conn, path: Path, lines: list[str], what: str, single: bool = False
) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        return _psql(pg, conn, [*(["-1"] if single else []), "-f", str(path)], what)
    finally:
        path.unlink(missing_ok=True)


def _psql(pg: PostgresPrograms, conn: Conn, args: list[str], what: str) -> str:
    env = {**conn.env(), "PGCLIENTENCODING": "UTF8"}
    argv = [pg.program("psql"), "-X", "-v", "ON_ERROR_STOP=1", "-A", "-t", "-q", *args]
    try:
        return pg.run(argv, f"{what} (psql)", env=env, hint="check database.masking against the schema")
    except DatabaseError as exc:
        raise BackupError(f"{exc.message}; the target was not touched", exc.hint) from None


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)
