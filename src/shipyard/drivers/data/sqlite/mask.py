"""Masking a scratch copy of a SQLite database: its schema, the UPDATEs, a clean rewrite.

``read_schema`` describes the copy's tables for ``core.masking.plan_masking``;
``apply_plan`` rewrites every masked column in one transaction through a SQL function that
calls ``core.masking.mask_value`` (with the app's triggers held back, so none copies an
original value elsewhere); ``rewrite_clean`` then writes the database into a fresh
file with ``VACUUM INTO`` after emptying the statistics tables, because an UPDATE leaves
the old values in freed pages and in free space inside pages, and ``sqlite_stat4`` keeps
samples of indexed values: only the fresh file may leave the scratch folder. Called by
``engine/data/masking.py``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from shipyard.core.masking import Column, MaskPlan, Value, mask_value, sqlite_affinity
from shipyard.errors import BackupError


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_schema(path: Path) -> dict[str, tuple[Column, ...]]:
    """Every table of the database at ``path`` with its columns."""
    conn = _open(path, readonly=True)
    try:
        names = [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ]
        schema: dict[str, tuple[Column, ...]] = {}
        for name in names:
            rows = conn.execute(f"PRAGMA table_info({_quote(name)})").fetchall()
            schema[name] = tuple(
                Column(str(r[1]), sqlite_affinity(str(r[2])), str(r[2]), bool(r[3]), bool(r[5])) for r in rows
            )
        return schema
    except sqlite3.Error as exc:
        raise BackupError(
            f"cannot read the schema of {path}: {exc}", "check the backup with verify"
        ) from None
    finally:
        conn.close()


def apply_plan(path: Path, plan: MaskPlan, key: bytes) -> int:
    """Mask the copy at ``path`` in place; returns how many rows were rewritten."""
    actions = list(plan.actions)
    conn = _open(path, readonly=False)

    def masked(index: int, value: Value) -> Value:
        return mask_value(key, actions[index], value)

    try:
        conn.create_function("shipyard_mask", 2, masked, deterministic=True)
        rows = 0
        with conn:
            # the app's triggers must not fire: an audit trigger would copy OLD values elsewhere.
            # They are dropped for the UPDATEs and created again, as they were, in the same transaction.
            triggers = conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql IS NOT NULL"
            ).fetchall()
            for name, _ in triggers:
                conn.execute(f"DROP TRIGGER {_quote(name)}")
            for table, table_actions in plan.tables().items():
                sets = ", ".join(
                    f"{_quote(a.column)} = shipyard_mask({actions.index(a)}, {_quote(a.column)})"
                    for a in table_actions
                )
                rows += conn.execute(f"UPDATE {_quote(table)} SET {sets}").rowcount
            for _, sql in triggers:
                conn.execute(sql)
        return rows
    except sqlite3.Error as exc:
        raise BackupError(
            f"masking the scratch copy failed: {exc}", "check database.masking against the schema"
        ) from None
    finally:
        conn.close()


def rewrite_clean(path: Path, target: Path) -> None:
    """Write the database at ``path`` into a new file ``target`` holding no freed page."""
    target.unlink(missing_ok=True)
    conn = _open(path, readonly=False)
    try:
        stats = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'sqlite_stat%'"
            )
        ]
        with conn:
            for name in stats:
                conn.execute(f"DELETE FROM {_quote(name)}")  # index samples hold original values
        conn.execute("VACUUM INTO ?", (str(target),))
    except sqlite3.Error as exc:
        target.unlink(missing_ok=True)
        raise BackupError(
            f"rewriting the masked copy failed: {exc}", "free space in the home's tmp folder"
        ) from None
    finally:
        conn.close()


def _open(path: Path, readonly: bool) -> sqlite3.Connection:
    if readonly:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    return sqlite3.connect(path)  # `with conn` commits or rolls back
