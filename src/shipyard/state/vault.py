"""The vault's rows in the state store: wrapped data keys, secrets' metadata, encrypted versions.

Only the vault service (``engine/trust/vault.py``) calls this. It stores ciphertexts and never sees
a plaintext: writes take a function that encrypts for the version the write creates, so the
version number (part of each ciphertext's associated data) is chosen inside the same
transaction that checks it. Each method is one transaction; a read or a write of a value can
be given the audit entry's (``AuditStore.appending``), to be committed with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, Engine, LargeBinary, bindparam, cast, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.core.vault import SecretMeta, check_write, require, versions_to_drop
from shipyard.errors import ConflictError, NotFoundError
from shipyard.state.schema import secret_versions, secrets, vault_keys

Encrypt = Callable[[str, int], bytes]  # (name, version) -> ciphertext
Policy = Callable[[SecretMeta | None], dict[str, Any]]  # the record before a write -> its metadata changes
# the statements of a secret's read, built once (building them costs more than running them)
META = select(secrets).where(secrets.c.env == bindparam("env"), secrets.c.name == bindparam("name"))
# a secret's record and the ciphertext of one version (the current one when "version" is NULL)
SEALED = (
    select(secrets, secret_versions.c.ciphertext)
    .select_from(
        secrets.outerjoin(
            secret_versions,
            (secret_versions.c.env == secrets.c.env)
            & (secret_versions.c.name == secrets.c.name)
            & (secret_versions.c.version == func.coalesce(bindparam("version"), secrets.c.version)),
        )
    )
    .where(secrets.c.env == bindparam("env"), secrets.c.name == bindparam("name"))
)
# a write's statements, built once too
ADD_VERSION = insert(secret_versions)
ADD_SECRET = insert(secrets)
SET_SECRET = update(secrets).where(
    secrets.c.env == bindparam("at_env"), secrets.c.name == bindparam("at_name")
)
VERSIONS = select(secret_versions.c.version).where(
    secret_versions.c.env == bindparam("env"), secret_versions.c.name == bindparam("name")
)
DROP_VERSIONS = delete(secret_versions).where(
    secret_versions.c.env == bindparam("env"),
    secret_versions.c.name == bindparam("name"),
    secret_versions.c.version.in_(bindparam("versions", expanding=True)),
)
# the live secrets of an environment besides those a write names, and their bytes (its limits)
SIZES = (
    select(
        func.count().label("secrets"),
        func.coalesce(func.sum(func.length(cast(secrets.c.name, LargeBinary))), 0).label("name_bytes"),
        func.coalesce(func.sum(func.length(secret_versions.c.ciphertext)), 0).label("sealed_bytes"),
    )
    .select_from(
        secrets.join(
            secret_versions,
            (secret_versions.c.env == secrets.c.env)
            & (secret_versions.c.name == secrets.c.name)
            & (secret_versions.c.version == secrets.c.version),
        )
    )
    .where(
        secrets.c.env == bindparam("env"),
        secrets.c.deleted_at.is_(None),
        secrets.c.name.not_in(bindparam("names", expanding=True)),
    )
)


@dataclass(frozen=True)
class Sizes:
    """Live secrets of an environment: how many, and the bytes of their names and ciphertexts."""

    count: int
    name_bytes: int
    sealed_bytes: int


class VaultStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # data keys ------------------------------------------------------------------------------
    def data_key(self, env: str) -> tuple[bytes, str] | None:
        """The wrapped data key of ``env`` and the id of the master key that wraps it."""
        with self._engine.begin() as conn:
            row = conn.execute(select(vault_keys).where(vault_keys.c.env == env)).first()
        return (bytes(row.wrapped), str(row.key_id)) if row else None

    def add_data_key(self, env: str, wrapped: bytes, key_id: str) -> tuple[bytes, str]:
        """Store ``env``'s first data key; if another thread stored one first, that one wins."""
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    insert(vault_keys).values(env=env, wrapped=wrapped, key_id=key_id, created_at=time.time())
                )
        except IntegrityError:
            pass
        stored = self.data_key(env)
        assert stored is not None
        return stored

    def data_keys(self) -> dict[str, tuple[bytes, str]]:
        with self._engine.begin() as conn:
            rows = conn.execute(select(vault_keys)).all()
        return {str(r.env): (bytes(r.wrapped), str(r.key_id)) for r in rows}

    def rewrap(self, wrapped: Mapping[str, bytes], key_id: str) -> None:
        """Replace every data key's wrapping at once (master-key rotation)."""
        now = time.time()
        with self._engine.begin() as conn:
            for env, blob in wrapped.items():
                conn.execute(
                    update(vault_keys)
                    .where(vault_keys.c.env == env)
                    .values(wrapped=blob, key_id=key_id, rewrapped_at=now)
                )

    # secrets ----------------------------------------------------------------------------------
    def meta(self, env: str, name: str, conn: Connection | None = None) -> SecretMeta | None:
        with self._in(conn) as conn:
            return self._meta(conn, env, name)

    def metas(self, env: str | None = None, *, deleted: bool | None = None) -> list[SecretMeta]:
        query = select(secrets).order_by(secrets.c.env, secrets.c.name)
        if env is not None:
            query = query.where(secrets.c.env == env)
        if deleted is True:
            query = query.where(secrets.c.deleted_at.is_not(None))
        elif deleted is False:
            query = query.where(secrets.c.deleted_at.is_(None))
        with self._engine.begin() as conn:
            return [SecretMeta(**dict(row)) for row in conn.execute(query).mappings()]

    def write(
        self,
        env: str,
        values: Mapping[str, tuple[int | None, Policy]],
        encrypt: Encrypt,
        by: str,
        keep: int,
        now: float,
        conn: Connection | None = None,
    ) -> list[SecretMeta]:
        """Write new versions of one or more secrets, all or none.

        ``values`` maps a name to (check-and-set version or None, its policy: the metadata
        changes, ``rotate_every`` / ``expires_at``, as a function of the record read here for
        the check-and-set, None for a new secret). Old versions beyond ``keep`` are dropped.
        """
        written: list[SecretMeta] = []
        try:
            with self._in(conn) as conn:
                for name, (cas, policy) in values.items():
                    meta = self._meta(conn, env, name)
                    version = check_write(meta, env, name, cas)
                    changes = policy(meta)
                    sealed = encrypt(name, version)
                    row: dict[str, Any] = {"env": env, "name": name, "created_at": now, "created_by": by}
                    conn.execute(ADD_VERSION, {**row, "version": version, "ciphertext": sealed})
                    fields: dict[str, Any] = {
                        "version": version,
                        "updated_at": now,
                        "updated_by": by,
                        **changes,
                    }
                    if meta is None:
                        conn.execute(ADD_SECRET, {**row, **fields})
                        written.append(SecretMeta(**row, **fields))
                    else:
                        conn.execute(SET_SECRET, {"at_env": env, "at_name": name, **fields})
                        written.append(replace(meta, **fields))
                    self._drop_old(conn, env, name, keep)
        except IntegrityError:
            raise ConflictError(
                f"another write to a secret of {env!r} happened at the same time",
                "read the secret again and retry",
            ) from None
        return written

    def ciphertext(
        self, env: str, name: str, version: int | None = None, conn: Connection | None = None
    ) -> tuple[int, bytes]:
        """A version's ciphertext (the current one when ``version`` is None), in one read."""
        with self._in(conn) as conn:
            row = conn.execute(SEALED, {"env": env, "name": name, "version": version}).mappings().first()
        found = dict(row) if row else None
        sealed = found.pop("ciphertext") if found else None
        meta = require(SecretMeta(**found) if found else None, env, name)
        wanted = meta.version if version is None else version
        if sealed is None:
            raise NotFoundError(
                f"secret {name!r} of {env!r} has no version {wanted} (it is at version {meta.version})",
                f"see the versions kept with `shipyard secrets history {env} {name}`",
            )
        return wanted, bytes(sealed)

    def current_ciphertexts(self, env: str) -> list[tuple[str, int, bytes]]:
        """(name, version, ciphertext) of every live secret of ``env``, in one read."""
        query = self._current(env, secrets.c.version, secret_versions.c.ciphertext)
        with self._engine.begin() as conn:
            return [(str(r.name), int(r.version), bytes(r.ciphertext)) for r in conn.execute(query)]

    def sizes_besides(self, env: str, names: Collection[str], conn: Connection | None = None) -> Sizes:
        """How many live secrets ``env`` holds other than ``names``, with the bytes of their names
        and of their current ciphertexts, summed by SQLite (what a write's limits are checked
        against: no ciphertext is read, no row crosses into Python)."""
        with self._in(conn) as conn:
            row = conn.execute(SIZES, {"env": env, "names": list(names)}).one()
        return Sizes(int(row.secrets), int(row.name_bytes), int(row.sealed_bytes))

    def history(self, env: str, name: str) -> list[dict[str, Any]]:
        with self._engine.begin() as conn:
            require(self._meta(conn, env, name), env, name, deleted=False)
            rows = conn.execute(
                select(secret_versions.c.version, secret_versions.c.created_at, secret_versions.c.created_by)
                .where(secret_versions.c.env == env, secret_versions.c.name == name)
                .order_by(secret_versions.c.version.desc())
            ).mappings()
            return [dict(r) for r in rows]

    def mark_deleted(self, env: str, name: str, by: str, now: float) -> SecretMeta:
        with self._engine.begin() as conn:
            require(self._meta(conn, env, name), env, name)
            conn.execute(self._where(update(secrets), env, name).values(deleted_at=now, deleted_by=by))
            return self._meta(conn, env, name)  # type: ignore[return-value]

    def recover(self, env: str, name: str) -> SecretMeta:
        with self._engine.begin() as conn:
            require(self._meta(conn, env, name), env, name, deleted=True)
            conn.execute(self._where(update(secrets), env, name).values(deleted_at=None, deleted_by=None))
            return self._meta(conn, env, name)  # type: ignore[return-value]

    def purge(self, env: str, name: str) -> int:
        """Destroy a deleted secret and every version of it; returns how many versions went."""
        with self._engine.begin() as conn:
            require(self._meta(conn, env, name), env, name, deleted=True)
            gone = conn.execute(
                delete(secret_versions).where(secret_versions.c.env == env, secret_versions.c.name == name)
            )
            conn.execute(self._where(delete(secrets), env, name))
        return int(gone.rowcount or 0)

    # helpers ----------------------------------------------------------------------------------
    @staticmethod
    def _current(env: str, *columns: Any) -> Any:
        """A query of ``columns`` (with the name) over the current version of each live secret."""
        return (
            select(secrets.c.name, *columns)
            .join(
                secret_versions,
                (secret_versions.c.env == secrets.c.env)
                & (secret_versions.c.name == secrets.c.name)
                & (secret_versions.c.version == secrets.c.version),
            )
            .where(secrets.c.env == env, secrets.c.deleted_at.is_(None))
            .order_by(secrets.c.name)
        )

    @staticmethod
    def _where(stmt: Any, env: str, name: str) -> Any:
        return stmt.where(secrets.c.env == env, secrets.c.name == name)

    @contextmanager
    def _in(self, conn: Connection | None) -> Iterator[Connection]:
        """The caller's transaction when given, else a new one."""
        if conn is not None:
            yield conn
        else:
            with self._engine.begin() as own:
                yield own

    @staticmethod
    def _meta(conn: Connection, env: str, name: str) -> SecretMeta | None:
        row = conn.execute(META, {"env": env, "name": name}).mappings().first()
        return SecretMeta(**dict(row)) if row else None

    @staticmethod
    def _drop_old(conn: Connection, env: str, name: str, keep: int) -> None:
        held = conn.execute(VERSIONS, {"env": env, "name": name}).scalars()
        drop = versions_to_drop([int(v) for v in held], keep)
        if drop:
            conn.execute(DROP_VERSIONS, {"env": env, "name": name, "versions": drop})
