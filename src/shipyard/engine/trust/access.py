"""Identity, authorization and audit for every request: the engine's access service.

The API authenticates each bearer token here, then asks ``guard`` before any
mutating action: the role decision (``core/access.py``) and an audit entry
written *before* the action runs, so an action is never done unaudited (if the
entry cannot be written, the action is refused). Refusals are audited too.
``read`` checks reads without auditing them; ``allow`` checks a read of the whole
control plane (users, the audit log) or a secret access and audits only its refusal. ``audited`` wraps an
action so that any exception it raises, a bug included, is recorded as its ``error``
before it propagates. User and token management lives here as well; a new token is
returned once and only its hash is stored.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from shipyard.core.access import ALL_ENVS, Principal, check_role, check_user_name, decide
from shipyard.core.records import Release
from shipyard.core.refusals import RefusalWindow, refusal_detail
from shipyard.drivers.files import write_atomic
from shipyard.errors import ForbiddenError, NotFoundError, ShipyardError
from shipyard.state.store import StateStore

BOOTSTRAP_USER = "admin"


class Access:
    def __init__(self, store: StateStore, envs: Callable[[], list[str]]) -> None:
        self.store = store
        self.envs = envs  # the manifest's environments, read at each call
        self._refusals = RefusalWindow()  # which refused requests are written (``refused``)
        self._refusals_lock = threading.Lock()

    # identity ------------------------------------------------------------------------------
    def bootstrap(self, token_file: Path) -> str | None:
        """On first start, an ``admin`` user (admin on every environment) owning ``token_file``.

        An existing token file (from before users existed) is adopted. Returns the user
        created, or None when users already exist.
        """
        if self.store.identity.user_count():
            return None
        token = token_file.read_text().strip() if token_file.exists() else ""
        if not token:
            token = make_token()
            write_atomic(token_file, token + "\n", mode=0o600)
        self.store.identity.add_user(BOOTSTRAP_USER, by="shipyard")
        self.store.identity.grant(BOOTSTRAP_USER, "admin", ALL_ENVS, by="shipyard")
        tid = self.store.identity.add_token(BOOTSTRAP_USER, token, f"bootstrap ({token_file.name})")
        self.store.audit.append("shipyard", "users.bootstrap", target=BOOTSTRAP_USER, detail=tid)
        return BOOTSTRAP_USER

    def authenticate(self, token: str) -> Principal:
        """The user of ``token`` (a database read, and a write once a minute): off the event loop."""
        return self.store.identity.principal(token)

    def remembered(self, token: str) -> Principal | None:
        """The user of a token ``authenticate`` found valid and nothing has changed since, from
        memory (no I/O: the API's gate asks this on the event loop); None: call ``authenticate``."""
        return self.store.identity.remembered(token)

    # decisions -----------------------------------------------------------------------------
    def read(self, who: Principal, env: str | None = None) -> None:
        """Reads are checked but not audited (secret reads go through ``guard``)."""
        self.check(who, "read", env)

    def check(self, who: Principal, permission: str, env: str | None = None) -> None:
        """``permission`` on a known ``env``, or raise; not audited (for reads of metadata)."""
        self._known(env)
        decide(who, permission, env)

    def guard(
        self,
        who: Principal,
        permission: str,
        action: str,
        *,
        env: str | None = None,
        target: str = "",
        source: str = "",
    ) -> None:
        """Allow ``action`` or raise; either way it is in the audit log before this returns."""
        self.allow(who, permission, action, env=env, target=target, source=source)
        self._append(who.user, action, env, target, source, "ok", "")

    def allow(
        self,
        who: Principal,
        permission: str,
        action: str,
        *,
        env: str | None = None,
        target: str = "",
        source: str = "",
    ) -> None:
        """``guard``'s decision: a refusal is audited and raised; an allowed one is not recorded
        here: its entry is the caller's to write with the action (``AuditStore.appending``: the
        vault), or there is none (reads of the whole control plane: users, the audit log)."""
        self._known(env)
        try:
            decide(who, permission, env)
        except ForbiddenError as exc:
            self._append(who.user, action, env, target, source, "denied", exc.message)
            raise

    @contextmanager
    def audited(
        self,
        who: Principal,
        permission: str,
        action: str,
        *,
        env: str | None = None,
        target: str = "",
        source: str = "",
    ) -> Iterator[None]:
        """``guard``, then the body; any exception it raises is audited as ``error``, then re-raised."""
        self.guard(who, permission, action, env=env, target=target, source=source)
        try:
            yield
        except Exception as exc:
            self.failed(who, action, env, exc, source, target)
            raise

    def refused(self, source: str, target: str, reason: str, now: float) -> None:
        """Record an API request refused for want of a valid token (by the user ``-``; the
        token is never recorded): the first from ``source`` at once, later ones within a minute
        counted into its next entry (``core/refusals.py``). Best effort: the request is refused
        either way."""
        with self._refusals_lock:
            held = self._refusals.admit(source, now)
        if held is not None:
            with suppress(ShipyardError):
                self._append("-", "api.auth", None, target, source, "denied", refusal_detail(reason, held))

    def session(self, user: str, action: str, source: str, result: str = "ok", detail: str = "") -> None:
        """Record a sign-in or sign-out of the dashboard (a refused sign-in as ``denied``, by the
        user ``-`` since the token named nobody; the token itself is never recorded)."""
        self._append(user, action, None, "dashboard", source, result, detail)

    def failed(
        self, who: Principal, action: str, env: str | None, exc: Exception, source: str, target: str = ""
    ) -> None:
        """Record that an allowed action then failed (best effort: the action already ran).

        A Shipyard error is recorded with its message; any other exception (a bug) by its
        type only, as its text may hold anything.
        """
        detail = exc.message if isinstance(exc, ShipyardError) else f"internal error ({type(exc).__name__})"
        with suppress(ShipyardError):  # the action's own error is what the caller reports
            self._append(who.user, action, env, target, source, "error", detail)

    # what a reader may see ------------------------------------------------------------------
    @staticmethod
    def release_view(who: Principal, release: Release) -> dict[str, Any]:
        """A release record as ``who`` may read it: the configuration of their environments only."""
        view = {k: v for k, v in vars(release).items() if k != "manifest"}
        config = json.loads(release.config or "{}")
        view["config"] = json.dumps({env: keys for env, keys in config.items() if who.may("read", env)})
        return view

    # users and tokens ----------------------------------------------------------------------
    def add_user(self, who: Principal, name: str, role: str, env: str, source: str) -> dict[str, Any]:
        check_user_name(name)
        check_role(role)
        self._known_scope(env)
        with self.audited(who, "admin", "users.add", target=f"{name} {role}@{env}", source=source):
            self.store.identity.add_user(name, by=who.user)
            self.store.identity.grant(name, role, env, by=who.user)
            token = make_token()
            tid = self.store.identity.add_token(name, token, "created with the user")
        return {"user": name, "role": role, "env": env, "token": token, "token_id": tid}

    def grant(self, who: Principal, name: str, role: str, env: str, source: str) -> bool:
        check_role(role)
        self._known_scope(env)
        with self.audited(who, "admin", "users.grant", target=f"{name} {role}@{env}", source=source):
            return self.store.identity.grant(name, role, env, by=who.user)

    def revoke(self, who: Principal, name: str, role: str, env: str, source: str) -> bool:
        check_role(role)
        with self.audited(who, "admin", "users.revoke", target=f"{name} {role}@{env}", source=source):
            return self.store.identity.revoke(name, role, env)

    def disable(self, who: Principal, name: str, source: str) -> int:
        with self.audited(who, "admin", "users.disable", target=name, source=source):
            if name == who.user:
                raise ForbiddenError("you cannot disable yourself", "ask another admin")
            return self.store.identity.disable_user(name)

    def new_token(self, who: Principal, name: str, label: str, source: str) -> dict[str, Any]:
        with self.audited(who, "admin", "tokens.create", target=name, source=source):
            token = make_token()
            tid = self.store.identity.add_token(name, token, label)
        return {"user": name, "token": token, "token_id": tid}

    def revoke_token(self, who: Principal, tid: str, source: str) -> str:
        with self.audited(who, "admin", "tokens.revoke", target=tid, source=source):
            return self.store.identity.revoke_token(tid)

    # internals -----------------------------------------------------------------------------
    def _append(
        self, actor: str, action: str, env: str | None, target: str, source: str, result: str, detail: str
    ) -> None:
        self.store.audit.append(
            actor, action, env=env or "", target=target, source=source, result=result, detail=detail
        )

    def _known(self, env: str | None) -> None:
        known = self.envs()
        if env is not None and env not in known:
            raise NotFoundError(
                f"environment {env!r} is not in shipyard.yaml (known: {', '.join(sorted(known))})",
                "pick one of those, or add it under `environments` in shipyard.yaml",
            )

    def _known_scope(self, env: str) -> None:
        if env != ALL_ENVS:
            self._known(env)


def make_token() -> str:
    return "sy_" + secrets.token_urlsafe(32)
