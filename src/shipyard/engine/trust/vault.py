"""The secrets vault service: what the API's secret routes and the instance starter call.

Every call names who asks (a ``Principal``) and is decided by the access service: value
reads and every change go through ``Access.guard``, so they are in the audit log *before*
they happen, and are refused when the log cannot be written. Metadata (names, versions,
rotation dates) is checked but not audited. Values come back wrapped in ``Secret``, whose
``repr`` is masked, and are unwrapped only at the edge that must hand them on.

Envelope encryption (``drivers/trust/crypto.py``): each environment has a random data key, stored
wrapped by the master key (``drivers/trust/keyfile.py``: ``SHIPYARD_MASTER_KEY`` or
``<home>/master.key``). Unwrapped data keys are kept in memory only, as an unsealed Vault
keeps its keyring. Rotating the master key re-wraps data keys in one transaction and
leaves every value as it is; a crash half-way is finished at the next start.

The runtime reads an environment's secrets as its own identity, ``runtime``, to put them in
a new instance's environment; each such read is audited too.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from shipyard.core import secret_limits as limits
from shipyard.core import vault as rules
from shipyard.core.access import Principal
from shipyard.core.vault import Secret, SecretMeta
from shipyard.drivers.trust import crypto, keyfile
from shipyard.engine.trust.access import Access
from shipyard.errors import VaultError
from shipyard.manifest.models import Vault as VaultSettings
from shipyard.state.store import StateStore
from shipyard.state.vault import Policy

if TYPE_CHECKING:
    from sqlalchemy import Connection

RUNTIME = "runtime"
T = TypeVar("T")


class RuntimeSecrets:
    """The vault as configuration and instances see it (``core.config.SecretSource``): reads
    made by the runtime's own identity, each audited; versions are metadata."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    def values(self, env: str, purpose: str = "", actor: str = RUNTIME) -> dict[str, str]:
        return self.vault.values_for(env, purpose or "runtime read", actor)

    def value(self, env: str, name: str, purpose: str, actor: str = RUNTIME) -> str | None:
        return self.vault.value_for(env, name, purpose, actor)

    def versions(self, env: str) -> dict[str, int]:
        return {m.name: m.version for m in self.vault.store.vault.metas(env, deleted=False)}


class Vault:
    def __init__(
        self,
        store: StateStore,
        access: Access,
        key_path: Path,
        settings: Callable[[], VaultSettings],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.access = access
        self.key_path = key_path
        self.settings = settings
        self.clock = clock
        self._lock = threading.Lock()
        self._master: keyfile.MasterKey | None = None
        self._data_keys: dict[str, bytes] = {}

    # start -------------------------------------------------------------------------------------
    def open(self) -> str:
        """Load the master key (creating it only for an empty vault) and finish an interrupted
        rotation. A vault that holds anything and has no key refuses to open: a new key could
        not read what the old one sealed.

        Returns what was done, for the start-up log. Never returns key material.
        """
        with self._lock:
            sealed_with = {kid for _, kid in self.store.vault.data_keys().values()}
            empty = not sealed_with and not self.store.vault.metas()
            if not empty:
                self._require_key_source(sealed_with)
            master = keyfile.load_master_key(self.key_path, create=empty)
            pending = keyfile.load_pending_key(self.key_path)
            if pending is not None and master.source != keyfile.ENV_VAR:
                if sealed_with and sealed_with <= {crypto.key_id(pending.key)}:
                    keyfile.promote_pending_key(self.key_path)
                    master = keyfile.load_master_key(self.key_path)
                    done = "finished an interrupted master-key rotation"
                else:
                    keyfile.pending_key_path(self.key_path).unlink()
                    done = "dropped the pending key of a rotation that had not started"
            else:
                done = "vault opened"
            self._master = master
            self._data_keys.clear()
        kid = crypto.key_id(master.key)
        if sealed_with - {kid}:
            return (
                f"WARNING: the master key {kid} from {master.source} is not the one the vault was "
                f"sealed with ({', '.join(sorted(sealed_with - {kid}))}): secrets cannot be read; "
                f"set {keyfile.ENV_VAR} or restore {self.key_path} from your backup"
            )
        return f"{done} (master key {kid} from {master.source})"

    def _require_key_source(self, sealed_with: set[str]) -> None:
        """A vault that holds secrets needs the key they were sealed with: never a new one."""
        if keyfile.ENV_VAR in os.environ or self.key_path.exists() or self.key_path.is_symlink():
            return
        sealed = f" (sealed with master key {', '.join(sorted(sealed_with))})" if sealed_with else ""
        raise VaultError(
            f"the master key file {self.key_path} is missing and {keyfile.ENV_VAR} is not set, "
            f"but the vault holds secrets{sealed}: the control plane refuses to start, "
            "since a new key could not read them",
            f"Restore {self.key_path} from your backup (chmod 600), or set {keyfile.ENV_VAR} "
            "to the base64 master key, then start again",
        )

    # metadata ----------------------------------------------------------------------------------
    def listing(self, who: Principal, env: str) -> list[dict[str, Any]]:
        self.access.check(who, "secrets-list", env)
        return [self._describe(m) for m in self.store.vault.metas(env)]

    def history(self, who: Principal, env: str, name: str) -> dict[str, Any]:
        self.access.check(who, "secrets-list", env)
        meta = rules.require(self.store.vault.meta(env, name), env, name)
        return {**self._describe(meta), "versions": self.store.vault.history(env, name)}

    def due(self, who: Principal, within: float | None = None) -> list[dict[str, Any]]:
        """Secrets overdue, or due within ``within`` seconds, of every environment ``who`` may list."""
        window = self.settings().due_within if within is None else within
        envs = [e for e in self.access.envs() if who.may("secrets-list", e)]
        if not envs:
            self.access.check(who, "secrets-list", None)  # raises, naming the grant to ask for
        now = self.clock()
        out = []
        for meta in self.store.vault.metas(deleted=False):
            state = rules.due_state(meta, now, window) if meta.env in envs else None
            if state is not None:
                out.append({**self._describe(meta), "state": state})
        return sorted(out, key=lambda d: d["due_at"])

    def count_due(self, env: str, now: float, *, overdue_only: bool) -> float:
        """How many live secrets of ``env`` are overdue (or due within ``vault.due_within``)."""
        window = 0.0 if overdue_only else self.settings().due_within
        states = [rules.due_state(m, now, window) for m in self.store.vault.metas(env, deleted=False)]
        return float(sum(1 for s in states if s == "overdue" or (s == "due" and not overdue_only)))

    # values ------------------------------------------------------------------------------------
    def get(self, who: Principal, env: str, name: str, version: int | None, source: str) -> Secret:
        target = name if version is None else f"{name} v{version}"
        self.access.allow(who, "secrets-read", "secrets.read", env=env, target=target, source=source)

        def run() -> Secret:
            audit = self.store.audit.appending(
                who.user, "secrets.read", env=env, target=target, source=source
            )
            with audit as conn:  # the entry is committed before the value is decrypted and returned
                number, blob = self.store.vault.ciphertext(env, name, version, conn)
            return Secret(crypto.decrypt_value(self._data_key(env), env, name, number, blob))

        return self._audited(who, "secrets.read", env, source, run)

    def export(self, who: Principal, env: str, source: str) -> dict[str, Secret]:
        self.access.guard(who, "secrets-read", "secrets.export", env=env, target="all", source=source)
        return self._audited(who, "secrets.export", env, source, lambda: self._current(env))

    def values_for(self, env: str, purpose: str, actor: str = RUNTIME) -> dict[str, str]:
        """The runtime's read: every live secret of ``env``, for ``purpose`` (an instance's
        environment, a configuration check), audited as ``runtime secrets.use``, or as the
        ``actor`` whose request needs them (a migration command run by hand)."""
        names = [m.name for m in self.store.vault.metas(env, deleted=False)]
        if not names:
            return {}
        self.store.audit.append(actor, "secrets.use", env=env, target=purpose, detail=", ".join(names))
        return {name: value.reveal() for name, value in self._current(env).items()}

    def value_for(self, env: str, name: str, purpose: str, actor: str = RUNTIME) -> str | None:
        """The runtime's read of one live secret (None when ``env`` has no such secret),
        audited as ``secrets.use`` of that name only: a webhook's signing key, a registry's
        password."""
        meta = self.store.vault.meta(env, name)
        if meta is None or meta.deleted:
            return None
        self.store.audit.append(actor, "secrets.use", env=env, target=purpose, detail=name)
        number, blob = self.store.vault.ciphertext(env, name)
        return crypto.decrypt_value(self._data_key(env), env, name, number, blob)

    # changes -----------------------------------------------------------------------------------
    def set(
        self,
        who: Principal,
        env: str,
        name: str,
        value: Secret,
        *,
        cas: int | None,
        rotate_every: float | None,
        expires_at: float | None,
        source: str,
    ) -> SecretMeta:
        rules.check_name(name)
        self.access.allow(who, "secrets-write", "secrets.set", env=env, target=name, source=source)

        def run() -> SecretMeta:
            key = self._data_key(env)  # before the entry's transaction: a first key is a write
            with self.store.audit.appending(
                who.user, "secrets.set", env=env, target=name, source=source
            ) as conn:  # one transaction: a refused write takes its entry with it
                self._check_limits(env, {name: value}, conn)
                policy = self._policy(rotate_every, expires_at)  # read with the check-and-set
                return self._write(who, env, {name: (cas, policy)}, {name: value}, key, conn)[0]

        return self._audited(who, "secrets.set", env, source, run)

    def import_values(
        self, who: Principal, env: str, values: Mapping[str, Secret], overwrite: bool, source: str
    ) -> list[SecretMeta]:
        """Write many secrets at once, all or none; existing ones only with ``overwrite``."""
        for name in values:
            rules.check_name(name)
        target = f"{len(values)} secrets"
        self.access.guard(who, "secrets-write", "secrets.import", env=env, target=target, source=source)

        def run() -> list[SecretMeta]:
            self._check_limits(env, values)
            plan: dict[str, tuple[int | None, Policy]] = {}
            for name in values:
                meta = self.store.vault.meta(env, name)
                if meta is not None and not overwrite:
                    raise VaultError(
                        f"secret {name!r} already exists in {env!r}; nothing was imported",
                        "pass --overwrite to write new versions of existing secrets",
                    )
                cas = meta.version if meta is not None else 0
                plan[name] = (cas, self._policy(None, None))
            return self._write(who, env, plan, values)

        return self._audited(who, "secrets.import", env, source, run)

    def delete(self, who: Principal, env: str, name: str, source: str) -> SecretMeta:
        self.access.guard(who, "secrets-write", "secrets.delete", env=env, target=name, source=source)
        return self._audited(
            who,
            "secrets.delete",
            env,
            source,
            lambda: self.store.vault.mark_deleted(env, name, who.user, self.clock()),
        )

    def recover(self, who: Principal, env: str, name: str, source: str) -> SecretMeta:
        self.access.guard(who, "secrets-write", "secrets.recover", env=env, target=name, source=source)
        return self._audited(who, "secrets.recover", env, source, lambda: self.store.vault.recover(env, name))

    def purge(self, who: Principal, env: str, name: str, source: str) -> int:
        self.access.guard(who, "secrets-purge", "secrets.purge", env=env, target=name, source=source)
        return self._audited(who, "secrets.purge", env, source, lambda: self.store.vault.purge(env, name))

    def purge_expired(self) -> list[str]:
        """Destroy deleted secrets past their retention (the reconciler calls this)."""
        retention = self.settings().deleted_retention
        now = self.clock()
        done = []
        for meta in self.store.vault.metas(deleted=True):
            after = rules.purge_after(meta, retention)
            if after is not None and after <= now:
                self.store.audit.append(
                    "shipyard", "secrets.purge", env=meta.env, target=meta.name, detail="retention ended"
                )
                self.store.vault.purge(meta.env, meta.name)
                done.append(f"{meta.env}/{meta.name}")
        return done

    def rotate_master_key(self, who: Principal, source: str) -> dict[str, Any]:
        """A new master key: written aside, every data key re-wrapped at once, then promoted."""
        self.access.guard(who, "admin", "vault.rotate-key", target="master key", source=source)

        def run() -> dict[str, Any]:
            with self._lock:
                master = self._require_master()
                if master.source == keyfile.ENV_VAR:
                    raise VaultError(
                        f"the master key comes from {keyfile.ENV_VAR}, which Shipyard cannot change",
                        "unset it to use the key file, or re-wrap by hand: this command rotates the key file",
                    )
                new = keyfile.generate_master_key()
                keyfile.write_pending_key(self.key_path, new)
                rows = self.store.vault.data_keys()
                wrapped = {env: crypto.rewrap(master.key, new, env, blob) for env, (blob, _) in rows.items()}
                self.store.vault.rewrap(wrapped, crypto.key_id(new))
                keyfile.promote_pending_key(self.key_path)
                self._master = keyfile.load_master_key(self.key_path)
                self._data_keys.clear()
            return {"key_id": crypto.key_id(new), "environments": sorted(wrapped)}

        return self._audited(who, "vault.rotate-key", None, source, run)

    # internals ---------------------------------------------------------------------------------
    def _audited(self, who: Principal, action: str, env: str | None, source: str, run: Callable[[], T]) -> T:
        try:
            return run()
        except Exception as exc:  # a bug too: recorded as the action's error, then raised
            self.access.failed(who, action, env, exc, source)
            raise

    def _check_limits(self, env: str, written: Mapping[str, Secret], conn: Connection | None = None) -> None:
        """The environment after this write stays within ``core.secret_limits``; the secrets
        already there are measured by their ciphertexts' sizes, summed by the store, without
        decrypting or reading them."""
        for name, value in written.items():
            limits.check_secret(env, name, value.reveal())  # before reading anything
        others = self.store.vault.sizes_besides(env, list(written), conn)
        # each is NAME=value and a NUL; a value's ciphertext is its UTF-8 bytes and a fixed overhead
        size = (
            others.name_bytes + others.count * 2 + others.sealed_bytes - others.count * crypto.VALUE_OVERHEAD
        )
        limits.check_environment(env, others.count, size, {n: v.reveal() for n, v in written.items()})

    def _policy(self, rotate_every: float | None, expires_at: float | None) -> Policy:
        """The metadata a write sets, given the secret's record before it (None: a new secret,
        which gets the vault's default rotation unless the write names one)."""
        default = self.settings().rotate_every

        def changes(before: SecretMeta | None) -> dict[str, Any]:
            out: dict[str, Any] = {}
            if rotate_every is not None:
                out["rotate_every"] = rotate_every or None  # 0 clears the policy
            elif before is None and default is not None:
                out["rotate_every"] = default
            if expires_at is not None:
                out["expires_at"] = expires_at or None
            return out

        return changes

    def _write(
        self,
        who: Principal,
        env: str,
        plan: Mapping[str, tuple[int | None, Policy]],
        values: Mapping[str, Secret],
        key: bytes | None = None,
        conn: Connection | None = None,
    ) -> list[SecretMeta]:
        key = key or self._data_key(env)

        def encrypt(name: str, version: int) -> bytes:
            return crypto.encrypt_value(key, env, name, version, values[name].reveal())

        return self.store.vault.write(
            env, plan, encrypt, who.user, self.settings().keep_versions, self.clock(), conn
        )

    def _current(self, env: str) -> dict[str, Secret]:
        rows = self.store.vault.current_ciphertexts(env)
        if not rows:
            return {}
        key = self._data_key(env)
        return {name: Secret(crypto.decrypt_value(key, env, name, v, blob)) for name, v, blob in rows}

    def _data_key(self, env: str) -> bytes:
        cached = self._data_keys.get(env)
        if cached is not None:
            return cached
        with self._lock:
            master = self._require_master()
            stored = self.store.vault.data_key(env)
            if stored is None:
                fresh = crypto.new_data_key()
                stored = self.store.vault.add_data_key(
                    env, crypto.wrap_data_key(master.key, env, fresh), crypto.key_id(master.key)
                )
            key = crypto.unwrap_data_key(master.key, env, stored[0])
            self._data_keys[env] = key
            return key

    def _require_master(self) -> keyfile.MasterKey:
        if self._master is None:
            raise VaultError("the vault is not open", "restart the control plane (`shipyard up`)")
        return self._master

    def _describe(self, meta: SecretMeta) -> dict[str, Any]:
        settings = self.settings()
        return {
            **meta.to_json(),
            "value": crypto.MASKED,
            "due_at": rules.due_at(meta),
            "purge_at": rules.purge_after(meta, settings.deleted_retention),
        }
