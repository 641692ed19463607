"""The central log store: ``<home>/logs.db``, apart from the state store so log volume never
contends with deploy state.

SQLite in WAL mode through the standard ``sqlite3`` module (FTS5 virtual tables and
``executemany`` batches are what this store is made of; SQLAlchemy adds nothing here).
Its schema is versioned with ``PRAGMA user_version`` and created or upgraded on open.

Its tables are drawn in ``state/log_schema.py``. A followed file's offset (``sources``) is
committed in the same transaction as the lines read, so a restart neither loses nor repeats
lines; an archive's row and the deletion of its lines are one transaction.

One writer (the ingester thread) and any number of readers (API threads, each with its
own connection). A quota (``max_bytes``) makes the store refuse new lines as a full disk
would (``StoreFull``), so the caller's handling of both is the same and can be tested.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from shipyard.core.logline import Source
from shipyard.errors import StateError
from shipyard.state.log_schema import COLUMNS, WARN, migrate
from shipyard.state.private import make_private


class StoreFull(Exception):
    """The store cannot take more lines: the disk is full or the quota is reached."""


@dataclass(frozen=True)
class Row:
    """A line to store (``id`` is given by the store)."""

    at: float
    env: str
    release: str
    instance: str
    stream: str
    level: int
    message: str
    fields: dict[str, Any] | None = None
    flags: int = 0


@dataclass(frozen=True)
class Filter:
    """Which lines a search or an export wants."""

    env: str
    since: float | None = None
    until: float | None = None
    min_level: int | None = None
    release: str | None = None
    match: str | None = None  # an FTS5 query
    contains: str | None = None  # a substring (ASCII letters lowered) each line must contain
    after_id: int = 0
    upto_id: int | None = None  # a search's cursor: lines stored after it wait for the next call


@dataclass(frozen=True)
class Archive:
    path: str
    env: str
    first_at: float
    last_at: float
    lines: int
    bytes: int


def _is_full(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "full" in str(exc)


class LogStore:
    def __init__(self, path: Path, max_bytes: int | None = None) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._writer = self._connect()
            migrate(self._writer)
        except sqlite3.Error as exc:
            raise StateError(
                f"cannot open the log store {path}: {exc}",
                "check the folder's permissions and free space; moving logs.db away starts an empty store",
            ) from None
        self._write_lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA cache_size=-65536")  # 64 MiB: index pages stay in memory between batches
        make_private(self.path)
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only=1")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        self._writer.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # writing -------------------------------------------------------------------------------------
    def used_bytes(self) -> int:
        """Bytes the store's pages hold (free pages, reused before the file grows, not counted)."""
        conn = self._reader()
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
        size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        return (pages - free) * size

    def add(self, rows: Sequence[Row], sources: Iterable[Source] = ()) -> None:
        """Store ``rows`` and move the read offsets of ``sources``, in one transaction.

        Raises ``StoreFull`` (and stores nothing) when the disk is full or the quota reached.
        """
        if rows and self.max_bytes is not None and self.used_bytes() >= self.max_bytes:
            raise StoreFull(f"the log store holds {self.used_bytes()} bytes, its limit is {self.max_bytes}")
        values = [
            (
                r.at,
                r.env,
                r.release,
                r.instance,
                r.stream,
                r.level,
                r.message,
                json.dumps(r.fields, default=str) if r.fields else None,
                r.flags,
            )
            for r in rows
        ]
        try:
            with self._tx() as conn:
                conn.executemany(
                    "INSERT INTO lines(at, env, release, instance, stream, level, message, fields, flags) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    values,
                )
                if rows:
                    self._extend_spans(conn, rows)
                conn.executemany(
                    "INSERT INTO sources(path, inode, offset, instance_id, skipping) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT(path) DO UPDATE SET inode=excluded.inode, offset=excluded.offset, "
                    "instance_id=excluded.instance_id, skipping=excluded.skipping",
                    [(s.path, s.inode, s.offset, s.instance_id, int(s.skipping)) for s in sources],
                )
        except sqlite3.Error as exc:
            if _is_full(exc):
                raise StoreFull(str(exc)) from None
            raise StateError(f"cannot write to the log store {self.path}: {exc}", "") from None

    @staticmethod
    def _extend_spans(conn: sqlite3.Connection, rows: Sequence[Row]) -> None:
        """Widen each (env, release)'s id span to the rows just inserted (ids are consecutive:
        one writer, and the trigger's insert does not change last_insert_rowid)."""
        first = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0]) - len(rows) + 1
        spans: dict[tuple[str, str], list[int]] = {}
        for offset, row in enumerate(rows):
            span = spans.setdefault((row.env, row.release), [offset, offset])
            span[1] = offset
        conn.executemany(
            "INSERT INTO spans(env, release, first_id, last_id) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(env, release) DO UPDATE SET first_id = min(first_id, excluded.first_id), "
            "last_id = max(last_id, excluded.last_id)",
            [(env, rel, first + lo, first + hi) for (env, rel), (lo, hi) in spans.items()],
        )

    def _span(self, where: Filter) -> tuple[int, int] | None:
        row = (
            self._reader()
            .execute(
                "SELECT first_id, last_id FROM spans WHERE env = ? AND release = ?",
                (where.env, where.release),
            )
            .fetchone()
        )
        return (int(row[0]), int(row[1])) if row else None

    def sources(self) -> dict[str, Source]:
        rows = self._reader().execute("SELECT path, inode, offset, instance_id, skipping FROM sources")
        return {r[0]: Source(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows}

    # reading -------------------------------------------------------------------------------------
    def search(self, where: Filter, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` lines matching ``where``, newest first (by time; by arrival with
        text or a release)."""
        span = self._span(where) if where.release is not None else None
        if where.release is not None and span is None:
            return []
        sql, params, key = _select(where, span)
        order = key if where.match or span else "l.at"  # each is the order of what drives the search
        rows = self._reader().execute(f"{sql} ORDER BY {order} DESC LIMIT ?", [*params, limit])
        return [_as_json(r) for r in rows]

    def scan(self, where: Filter, batch: int = 5000) -> Iterator[dict[str, Any]]:
        """Every line matching ``where``, oldest first, read in batches (for exports)."""
        after = where.after_id
        span = self._span(where) if where.release is not None else None
        if where.release is not None and span is None:
            return
        sql, params, key = _select(replace(where, after_id=0), span)
        while True:
            rows = (
                self._reader()
                .execute(f"{sql} AND {key} > ? ORDER BY {key} LIMIT ?", [*params, after, batch])
                .fetchall()
            )
            if not rows:
                return
            for r in rows:
                yield _as_json(r)
            after = rows[-1][0]

    def count(self) -> int:
        return int(self._reader().execute("SELECT count(*) FROM lines").fetchone()[0])

    def last_id(self) -> int:
        return int(self._reader().execute("SELECT coalesce(max(id), 0) FROM lines").fetchone()[0])

    # retention -----------------------------------------------------------------------------------
    def envs(self) -> list[str]:
        return [r[0] for r in self._reader().execute("SELECT DISTINCT env FROM lines")]

    def older_than(self, env: str, before: float, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` of the environment's lines whose time is before ``before``, oldest first."""
        rows = self._reader().execute(
            f"SELECT {', '.join('l.' + c for c in COLUMNS)} FROM lines l "
            "WHERE l.env = ? AND l.at < ? ORDER BY l.at, l.id LIMIT ?",
            (env, before, limit),
        )
        return [_as_json(r) for r in rows]

    def oldest(self, limit: int) -> list[dict[str, Any]]:
        """The ``limit`` lines stored first, in every environment."""
        rows = self._reader().execute(
            f"SELECT {', '.join('l.' + c for c in COLUMNS)} FROM lines l ORDER BY l.id LIMIT ?", (limit,)
        )
        return [_as_json(r) for r in rows]

    def archived(self, archive: Archive | None, ids: Sequence[int]) -> None:
        """Record ``archive`` (None: the lines are dropped) and delete its lines, in one transaction."""
        with self._tx() as conn:
            if archive is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO archives(path, env, first_at, last_at, lines, bytes, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, strftime('%s','now'))",
                    (
                        archive.path,
                        archive.env,
                        archive.first_at,
                        archive.last_at,
                        archive.lines,
                        archive.bytes,
                    ),
                )
            conn.executemany("DELETE FROM lines WHERE id = ?", [(i,) for i in ids])

    def archives(self, env: str | None = None) -> list[Archive]:
        sql = "SELECT path, env, first_at, last_at, lines, bytes FROM archives"
        rows = self._reader().execute(
            sql + (" WHERE env = ? ORDER BY first_at" if env else " ORDER BY first_at"), (env,) if env else ()
        )
        return [Archive(*r) for r in rows]

    def forget_archive(self, path: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM archives WHERE path = ?", (path,))


def _select(where: Filter, span: tuple[int, int] | None = None) -> tuple[str, list[Any], str]:
    """The query's SQL without its ORDER BY, its parameters, and the id column to order by;
    ``span``: the ids between which the release's lines are."""
    cols = ", ".join("l." + c for c in COLUMNS)
    if where.match:
        # The index drives (newest first straight from its doclists), then each row is looked up.
        sql = f"SELECT {cols} FROM lines_fts f CROSS JOIN lines l ON l.id = f.rowid WHERE lines_fts MATCH ?"
        params: list[Any] = [where.match]
        key = "f.rowid"
    else:
        sql, params, key = f"SELECT {cols} FROM lines l WHERE 1", [], "l.id"
    # With a span, the ids drive: "+" keeps SQLite from walking the env index and sorting instead.
    sql += " AND +l.env = ?" if span is not None else " AND l.env = ?"
    params.append(where.env)
    if where.min_level is not None and where.min_level >= WARN:
        sql += f" AND l.level >= {WARN}"  # the same literal term lets SQLite use the partial index
    if span is not None:
        sql += f" AND {key} BETWEEN ? AND ?"
        params += list(span)
    for clause, value in (
        ("l.at >= ?", where.since),
        ("l.at < ?", where.until),
        ("l.level >= ?", where.min_level),
        ("l.release = ?", where.release),
    ):
        if value is not None:
            sql += f" AND {clause}"
            params.append(value)
    if where.contains:
        sql += " AND instr(lower(l.message), ?) > 0"
        params.append(where.contains)
    if where.after_id:
        sql += f" AND {key} > ?"
        params.append(where.after_id)
    if where.upto_id is not None:
        sql += f" AND {key} <= ?"
        params.append(where.upto_id)
    return sql, params, key


def _as_json(row: Sequence[Any]) -> dict[str, Any]:
    data = dict(zip(COLUMNS, row, strict=True))
    data["fields"] = json.loads(data["fields"]) if data["fields"] else None
    return data
