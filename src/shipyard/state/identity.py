"""Users, their role grants and their API tokens, in the state store's SQLite file.

The engine's access service calls this. Tokens are kept only as SHA-256
hashes; the token itself is shown once, when it is created. Each method is
one transaction.

A token found valid is remembered (by its hash, with the user and grants found) until its
``last_used_at`` is due again, so that the API's gate can name the user of most requests
without a database read (``remembered``). Every change to users, grants or tokens forgets
all of them, and a lookup that overlapped a change is not remembered: a revocation, a
disabled user or a changed grant applies to the next request, as without the memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.core.access import Grant, Principal, check_role, token_hash, token_id
from shipyard.errors import AuthError, ConflictError, NotFoundError
from shipyard.state.schema import grants, tokens, users

LAST_USED_RESOLUTION_S = 60.0  # how precisely a token's last use is kept


class IdentityStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._known: dict[str, tuple[Principal, float]] = {}  # token hash -> (who, last_used_at)
        self._changes = 0  # counts changes to users, grants and tokens
        self._known_lock = threading.Lock()

    def remembered(self, token: str, now: float | None = None) -> Principal | None:
        """The user of a token ``principal`` found valid, with no change to users, grants or
        tokens since and its ``last_used_at`` not yet due; None when the database must say."""
        known = self._known.get(token_hash(token))
        if known is None or (now or time.time()) - known[1] > LAST_USED_RESOLUTION_S:
            return None
        return known[0]

    def user_count(self) -> int:
        with self._engine.begin() as conn:
            return len(conn.execute(select(users.c.name)).all())

    def add_user(self, name: str, by: str) -> None:
        try:
            with self._change() as conn:
                conn.execute(insert(users).values(name=name, created_at=time.time(), created_by=by))
        except IntegrityError:
            raise ConflictError(
                f"user {name!r} already exists",
                f"see `shipyard users list`; grant roles with `users grant {name}`",
            ) from None

    def disable_user(self, name: str) -> int:
        """Disable ``name`` and revoke its tokens; returns how many tokens were revoked."""
        now = time.time()
        with self._change() as conn:
            self._require(conn, name)
            conn.execute(update(users).where(users.c.name == name).values(disabled_at=now))
            done = conn.execute(
                update(tokens)
                .where(tokens.c.user == name, tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        return int(done.rowcount or 0)

    def grant(self, name: str, role: str, env: str, by: str) -> bool:
        """Add a grant; False if the user already held it."""
        with self._change() as conn:
            self._require(conn, name)
            held = conn.execute(
                select(grants.c.id).where(grants.c.user == name, grants.c.role == role, grants.c.env == env)
            ).first()
            if held:
                return False
            conn.execute(
                insert(grants).values(user=name, role=role, env=env, created_at=time.time(), created_by=by)
            )
        return True

    def revoke(self, name: str, role: str, env: str) -> bool:
        with self._change() as conn:
            self._require(conn, name)
            done = conn.execute(
                delete(grants).where(grants.c.user == name, grants.c.role == role, grants.c.env == env)
            )
        return bool(done.rowcount)

    def add_token(self, name: str, token: str, label: str) -> str:
        with self._change() as conn:
            row = self._require(conn, name)
            if row.disabled_at is not None:
                raise ConflictError(f"user {name!r} is disabled", "create a new user instead")
            tid = token_id(token)
            conn.execute(
                insert(tokens).values(
                    id=tid, user=name, hash=token_hash(token), label=label, created_at=time.time()
                )
            )
        return tid

    def revoke_token(self, tid: str) -> str:
        """Revoke a token by its id; returns its user."""
        with self._change() as conn:
            row = conn.execute(select(tokens).where(tokens.c.id == tid)).first()
            if row is None:
                raise NotFoundError(f"no token {tid!r}", "see `shipyard users list` for token ids")
            conn.execute(update(tokens).where(tokens.c.id == tid).values(revoked_at=time.time()))
        return str(row.user)

    def principal(self, token: str) -> Principal:
        """The user a bearer token belongs to, with their grants; AuthError if none is valid."""
        changes = self._changes
        with self._engine.begin() as conn:
            row = conn.execute(
                select(
                    tokens.c.id,
                    tokens.c.user,
                    tokens.c.revoked_at,
                    tokens.c.last_used_at,
                    users.c.disabled_at,
                )
                .join(users, users.c.name == tokens.c.user)
                .where(tokens.c.hash == token_hash(token))
            ).first()
            if row is None or row.revoked_at is not None or row.disabled_at is not None:
                raise AuthError(
                    "missing, wrong or revoked API token",
                    "send `Authorization: Bearer <token>`; the CLI reads $SHIPYARD_TOKEN or <home>/token",
                )
            held = conn.execute(select(grants.c.role, grants.c.env).where(grants.c.user == row.user)).all()
            now = time.time()
            used = row.last_used_at
            if used is None or now - used > LAST_USED_RESOLUTION_S:
                # a write (and an fsync) only once a minute per token, not on every request
                conn.execute(update(tokens).where(tokens.c.id == row.id).values(last_used_at=now))
                used = now
        who = Principal(str(row.user), tuple(Grant(check_role(g.role), g.env) for g in held), str(row.id))
        with self._known_lock:
            if changes == self._changes:  # else a change committed while this was read
                self._known[token_hash(token)] = (who, used)
        return who

    @contextmanager
    def _change(self) -> Iterator[Connection]:
        """A transaction that changes users, grants or tokens; once it is over, committed or
        not, every remembered token is asked of the database again."""
        try:
            with self._engine.begin() as conn:
                yield conn
        finally:
            with self._known_lock:
                self._changes += 1
                self._known.clear()

    def users(self) -> list[dict[str, object]]:
        with self._engine.begin() as conn:
            people = conn.execute(select(users).order_by(users.c.name)).mappings().all()
            held = conn.execute(select(grants).order_by(grants.c.id)).mappings().all()
            toks = conn.execute(select(tokens).order_by(tokens.c.created_at)).mappings().all()
        out = []
        for u in people:
            out.append(
                {
                    "name": u["name"],
                    "created_at": u["created_at"],
                    "created_by": u["created_by"],
                    "disabled": u["disabled_at"] is not None,
                    "grants": [{"role": g["role"], "env": g["env"]} for g in held if g["user"] == u["name"]],
                    "tokens": [
                        {
                            "id": t["id"],
                            "label": t["label"],
                            "created_at": t["created_at"],
                            "last_used_at": t["last_used_at"],
                            "revoked": t["revoked_at"] is not None,
                        }
                        for t in toks
                        if t["user"] == u["name"]
                    ],
                }
            )
        return out

    @staticmethod
    def _require(conn: Connection, name: str) -> Row[Any]:
        row = conn.execute(select(users).where(users.c.name == name)).first()
        if row is None:
            raise NotFoundError(
                f"no user {name!r}", "see `shipyard users list`; add one with `shipyard users add`"
            )
        return row
