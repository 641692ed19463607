"""The verify query suite a user declares: what each query must return, and the verdict. Pure.

``database.backups.verify_queries`` lists queries (``name``, ``sql``, ``expect``) that
``shipyard backup verify`` (and scheduled verifications) run read-only on the restored
scratch copy, after the built-in checks. ``expect`` is one of:

- ``rows``: the query returns at least one row; ``no rows``: it returns none;
- ``= N`` (or just ``N``): the first column of the first row equals N (a number, or text);
- ``>= N``, ``> N``, ``<= N``, ``< N``, ``!= N``: it compares so with the number N.

``parse_expectation`` checks the text (the manifest validates with it); ``evaluate`` judges
what a query returned; ``run_suite`` runs a suite through a driver's runner (the engine
passes ``drivers/data/db_query.py``'s); ``summarize`` words the outcome. Used by
``manifest/verify_queries.py``, ``engine/data/backups.py``, ``engine/data/postgres/backups.py`` and drills.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from shipyard.errors import ShipyardError

Cell = str | None
Rows = Sequence[Sequence[Cell]]

FORM = re.compile(r"^\s*(==|=|!=|>=|<=|>|<)?\s*(.+?)\s*$", re.DOTALL)
COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "!=": operator.ne,
}  # fmt: skip
SHOWN = 60  # characters of a returned value shown in a result
FORMS = "`rows`, `no rows`, `= N`, `!= N`, `>= N`, `> N`, `<= N` or `< N`"


@dataclass(frozen=True)
class Expectation:
    """``kind`` is "rows", "no rows", "=" (value is text or a number) or a comparison."""

    kind: str
    value: str = ""

    def __str__(self) -> str:
        return self.kind if self.kind in ("rows", "no rows") else f"{self.kind} {self.value}"


@dataclass(frozen=True)
class QueryCheck:
    """What one query of the suite did on the restored copy."""

    name: str
    ok: bool
    expected: str
    got: str


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_expectation(text: str) -> Expectation:
    """The expectation ``text`` states; ValueError naming the allowed forms when it is none."""
    words = " ".join(text.lower().split())
    if words in ("rows", "no rows"):
        return Expectation(words)
    found = FORM.match(text)
    if found is None or not text.strip():
        raise ValueError(f"expect is empty: use {FORMS}")
    op, value = found.group(1) or "=", found.group(2)
    if op == "==":
        op = "="
    if op != "=" and _number(value) is None:
        raise ValueError(f"expect {text!r}: {op} needs a number after it (e.g. `{op} 1`); forms: {FORMS}")
    return Expectation(op, value)


def _shown(rows: Rows) -> str:
    if not rows:
        return "no rows"
    cell = rows[0][0] if rows[0] else None
    first = "NULL" if cell is None else repr(cell if len(cell) <= SHOWN else cell[:SHOWN] + "...")
    return f"{len(rows)} row{'s' if len(rows) != 1 else ''}, first value {first}"


def evaluate(name: str, expectation: Expectation, rows: Rows) -> QueryCheck:
    """Judge what a query returned (its rows, each a sequence of text cells, NULL as None)."""
    expected, got = str(expectation), _shown(rows)
    if expectation.kind == "rows":
        return QueryCheck(name, bool(rows), expected, got)
    if expectation.kind == "no rows":
        return QueryCheck(name, not rows, expected, got)
    cell = rows[0][0] if rows and rows[0] else None
    if cell is None:
        return QueryCheck(name, False, expected, got)
    want, have = _number(expectation.value), _number(cell)
    if expectation.kind == "=":
        same = want == have if want is not None and have is not None else cell == expectation.value
        return QueryCheck(name, same, expected, got)
    if have is None or want is None:
        return QueryCheck(name, False, expected, f"{got} (not a number)")
    return QueryCheck(name, COMPARE[expectation.kind](have, want), expected, got)


def failed_check(name: str, expectation: Expectation, error: str) -> QueryCheck:
    """A query that did not run (an SQL error, the timeout)."""
    return QueryCheck(name, False, str(expectation), f"error: {error}")


class Query(Protocol):
    """A declared query (``manifest/verify_queries.py``'s ``VerifyQuery``)."""

    @property
    def name(self) -> str: ...
    @property
    def sql(self) -> str: ...
    @property
    def expect(self) -> str: ...
    @property
    def timeout(self) -> float: ...


def run_suite(queries: Sequence[Query], run: Callable[[str, float], Rows]) -> tuple[QueryCheck, ...]:
    """Each query through ``run(sql, timeout)`` (a driver's), judged; an error fails only it."""
    checks = []
    for query in queries:
        expectation = parse_expectation(query.expect)
        try:
            rows = run(query.sql, query.timeout)
        except ShipyardError as exc:
            checks.append(failed_check(query.name, expectation, exc.message))
            continue
        checks.append(evaluate(query.name, expectation, rows))
    return tuple(checks)


def summarize(checks: Sequence[QueryCheck]) -> tuple[bool, str]:
    """(all passed, a sentence naming each failed query, what it returned and what was expected)."""
    failed = [c for c in checks if not c.ok]
    if not failed:
        return True, f"{len(checks)} verify quer{'y' if len(checks) == 1 else 'ies'} passed"
    return False, "; ".join(
        f"verify query {c.name!r} returned {c.got}, expected {c.expected}" for c in failed
    )
