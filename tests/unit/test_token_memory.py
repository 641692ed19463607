"""Tokens remembered after a valid lookup (``IdentityStore.remembered``), and the API's gate
naming the user of a remembered token without the database: real SQLite, a real ASGI app."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event

from shipyard.core.access import Principal
from shipyard.engine.engine import Engine
from shipyard.engine.trust.access import Access
from shipyard.errors import AuthError
from shipyard.server.answers import install_handlers
from shipyard.server.auth import Who
from shipyard.server.gate import Gate
from shipyard.state.identity import LAST_USED_RESOLUTION_S, IdentityStore
from shipyard.state.store import StateStore, open_store

TOKEN = "sy_dana-laptop"


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    store = open_store(tmp_path / "state.db")
    store.identity.add_user("dana", by="admin")
    store.identity.grant("dana", "deployer", "dev", by="admin")
    store.identity.add_token("dana", TOKEN, "laptop")
    return store


def test_a_valid_token_is_remembered_until_its_last_use_is_due(store: StateStore) -> None:
    ids = store.identity
    assert ids.remembered(TOKEN) is None  # never looked up
    who = ids.principal(TOKEN)
    assert ids.remembered(TOKEN) == who
    assert ids.remembered(TOKEN, now=time.time() + LAST_USED_RESOLUTION_S + 1) is None
    with pytest.raises(AuthError):
        ids.principal("sy_never-issued")
    assert ids.remembered("sy_never-issued") is None


@pytest.mark.parametrize(
    ("change", "then"),
    [
        (lambda ids, tid: ids.revoke_token(tid), "refused"),
        (lambda ids, tid: ids.disable_user("dana"), "refused"),
        (lambda ids, tid: ids.revoke("dana", "deployer", "dev"), "may not deploy"),
        (lambda ids, tid: ids.grant("dana", "admin", "*", by="admin"), "admin"),
        (lambda ids, tid: ids.add_user("vic", by="admin"), "unchanged"),
        (lambda ids, tid: ids.add_token("dana", "sy_dana-ci", "ci"), "unchanged"),
    ],
)
def test_every_change_to_users_grants_or_tokens_forgets_them_all(
    store: StateStore, change: Any, then: str
) -> None:
    ids = store.identity
    tid = ids.principal(TOKEN).token_id
    change(ids, tid)
    assert ids.remembered(TOKEN) is None
    if then == "refused":
        with pytest.raises(AuthError):
            ids.principal(TOKEN)
        assert ids.remembered(TOKEN) is None
        return
    who = ids.principal(TOKEN)
    assert who.may("deploy", "dev") is (then != "may not deploy")
    assert who.may("admin", "production") is (then == "admin")


def test_a_lookup_that_overlaps_a_change_is_not_remembered(store: StateStore) -> None:
    ids = store.identity
    engine = ids._engine  # the store's engine: a grant is revoked while the lookup reads
    revoked: list[bool] = []

    def revoke_while_reading(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM grants" in statement and not revoked:
            revoked.append(False)  # once: the revocation's own statements pass through here too
            revoked[0] = ids.revoke("dana", "deployer", "dev")

    event.listen(engine, "before_cursor_execute", revoke_while_reading)
    try:
        ids.principal(TOKEN)  # may have read the grant before its revocation committed
    finally:
        event.remove(engine, "before_cursor_execute", revoke_while_reading)
    assert revoked == [True]
    assert ids.remembered(TOKEN) is None
    assert not ids.principal(TOKEN).may("deploy", "dev")


class Counting(Access):
    """The access service, counting the lookups that go to the database."""

    looked_up = 0

    def authenticate(self, token: str) -> Principal:
        self.looked_up += 1
        return super().authenticate(token)


def gated_app(access: Access) -> TestClient:
    app = FastAPI()
    install_handlers(app)

    @app.get("/api/whoami")
    async def whoami(who: Who) -> dict[str, str]:
        return {"user": who.user}

    app.add_middleware(Gate, engine=cast(Engine, SimpleNamespace(access=access)))
    return TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"})


def test_the_gate_asks_the_database_only_for_tokens_not_remembered(store: StateStore) -> None:
    access = Counting(store, lambda: ["dev"])
    client = gated_app(access)
    for _ in range(3):
        answer = client.get("/api/whoami")
        assert answer.status_code == 200 and answer.json() == {"user": "dana"}
    assert access.looked_up == 1
    store.identity.revoke_token(store.identity.principal(TOKEN).token_id)
    refused = client.get("/api/whoami")
    assert refused.status_code == 401 and refused.json()["kind"] == "AuthError"
    assert access.looked_up == 2
    assert client.get("/api/whoami", headers={"Authorization": "Bearer sy_wrong"}).status_code == 401
    assert access.looked_up == 3


def test_a_new_store_remembers_no_token(tmp_path: Path) -> None:
    """The memory belongs to one store object: a restart starts empty."""
    store = open_store(tmp_path / "state.db")
    store.identity.add_user("dana", by="admin")
    store.identity.add_token("dana", TOKEN, "laptop")
    store.identity.principal(TOKEN)
    assert IdentityStore(store._engine).remembered(TOKEN) is None
