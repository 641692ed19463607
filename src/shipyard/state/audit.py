"""The append-only audit log in the state store: appending entries and reading them back.

The engine's access service appends an entry for every mutating action and
every secret read (and every refusal); ``shipyard audit`` lists them and
``shipyard audit verify`` checks the hash chain (``core/audit.py``). SQLite
triggers refuse UPDATE and DELETE on the table. Appends are serialized by a
lock so that each entry links to the one before it. ``appending`` writes an entry in a
transaction its caller goes on with (a secret read or write), so that the entry and the action
are committed together, with one fsync, or not at all. Every text field is stored on one
line (``core.audit.one_line``): a value cannot forge a second entry where the log is printed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from shipyard.core.audit import DETAIL_MAX, GENESIS, Entry, entry_hash, one_line
from shipyard.errors import StateError
from shipyard.state.schema import audit

T = TypeVar("T")
# built once: a read of a secret writes an entry, and building these again costs more than running them
LAST_ENTRY = select(audit.c.id, audit.c.hash).order_by(audit.c.id.desc()).limit(1)
NEW_ENTRY = insert(audit)


class AuditStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        # (id, hash) of the last entry this process committed: the next one links to it without
        # reading it back. Another process's append since is caught by the id's uniqueness.
        self._head: tuple[int, str] | None = None

    def append(
        self,
        actor: str,
        action: str,
        *,
        env: str = "",
        target: str = "",
        source: str = "",
        result: str = "ok",
        detail: str = "",
    ) -> Entry:
        with self._lock:
            return _refused_unless_written(
                lambda: self._append(actor, action, env, target, source, result, detail)
            )

    @contextmanager
    def appending(
        self, actor: str, action: str, *, env: str = "", target: str = "", source: str = ""
    ) -> Iterator[Connection]:
        """An ``ok`` entry, in a transaction the caller's action goes on in; committed when the
        block ends, with what the action wrote (one fsync for both), or rolled back with it."""
        with self._lock, self._engine.connect() as conn:
            self._head, head = None, self._head  # known again once this entry is committed
            _refused_unless_written(conn.begin)
            entry = _refused_unless_written(
                lambda: self._insert(conn, head, actor, action, env, target, source, "ok", "")
            )
            yield conn
            _refused_unless_written(conn.commit)
            self._head = (entry.id, entry.hash)

    def _append(
        self, actor: str, action: str, env: str, target: str, source: str, result: str, detail: str
    ) -> Entry:
        self._head, head = None, self._head
        with self._engine.begin() as conn:
            entry = self._insert(conn, head, actor, action, env, target, source, result, detail)
        self._head = (entry.id, entry.hash)
        return entry

    @staticmethod
    def _insert(
        conn: Connection,
        head: tuple[int, str] | None,
        actor: str,
        action: str,
        env: str,
        target: str,
        source: str,
        result: str,
        detail: str,
    ) -> Entry:
        fields: dict[str, object] = {
            "at": time.time(),
            "actor": one_line(actor),
            "action": one_line(action),
            "env": one_line(env),
            "target": one_line(target),
            "source": one_line(source),
            "result": one_line(result),
            "detail": one_line(detail[:DETAIL_MAX]),
        }
        for known in (head, None):
            prev_id, prev_hash = known or _read_head(conn)
            entry = {"id": prev_id + 1, **fields}
            digest = entry_hash(prev_hash, entry)
            try:  # a taken id fails this statement alone: the transaction goes on
                conn.execute(NEW_ENTRY, {**entry, "prev_hash": prev_hash, "hash": digest})
            except IntegrityError:
                if known is None:
                    raise
                continue  # another process appended since this one's last entry: read the head
            return Entry(**entry, prev_hash=prev_hash, hash=digest)  # type: ignore[arg-type]
        raise AssertionError("unreachable")

    def entries(
        self, *, actor: str | None = None, env: str | None = None, after: int = 0, limit: int | None = None
    ) -> list[Entry]:
        query = select(audit).where(audit.c.id > after).order_by(audit.c.id)
        if actor:
            query = query.where(audit.c.actor == actor)
        if env:
            query = query.where(audit.c.env == env)
        if limit:
            query = query.limit(limit)
        with self._engine.begin() as conn:
            rows = conn.execute(query).mappings().all()
        return [Entry(**dict(row)) for row in rows]


def _read_head(conn: Connection) -> tuple[int, str]:
    last = conn.execute(LAST_ENTRY).first()
    return (int(last.id), str(last.hash)) if last else (0, GENESIS)


def _refused_unless_written(step: Callable[[], T]) -> T:
    """Run a step of writing an entry; a database error refuses the action it was for."""
    try:
        return step()
    except SQLAlchemyError as exc:
        raise StateError(
            f"the audit log cannot be written ({type(exc).__name__}), so the action was refused",
            "check the disk and the state database under <home>/state; nothing was changed",
        ) from None
