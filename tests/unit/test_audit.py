"""The audit log: hash chain verification, append-only storage, identities in the store."""

from __future__ import annotations

import itertools
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from shipyard.core.access import Grant, Principal
from shipyard.core.audit import GENESIS, Entry, entry_hash, verify_chain
from shipyard.engine.trust.access import Access
from shipyard.errors import AuthError, ConflictError, ForbiddenError, NotFoundError
from shipyard.state.store import StateStore, open_store


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return open_store(tmp_path / "state.db")


def chain(store: StateStore) -> list[Entry]:
    store.audit.append("admin", "users.add", target="dana deployer@dev", source="127.0.0.1")
    store.audit.append("dana", "deploy", env="dev", target="new release", source="127.0.0.1")
    store.audit.append("vic", "deploy", env="dev", result="denied", detail="may not deploy")
    return store.audit.entries()


def test_appended_entries_form_a_verified_chain(store: StateStore) -> None:
    entries = chain(store)
    assert [e.id for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    report = verify_chain(entries)
    assert report.ok and report.entries == 3


def test_an_entry_another_process_appended_is_linked_to(store: StateStore, tmp_path: Path) -> None:
    store.audit.append("admin", "deploy", env="dev")  # this process now knows the chain's head
    other = open_store(tmp_path / "state.db")  # another process (the CLI) on the same file
    other.audit.append("dana", "deploy", env="dev")
    other.audit.append("dana", "rollback", env="dev")
    with store.audit.appending("admin", "secrets.read", env="dev", target="API_KEY"):
        pass  # its id is taken: it links to the other process's last entry instead
    store.audit.append("admin", "secrets.write", env="dev")
    entries = store.audit.entries()
    assert [(e.id, e.actor, e.action) for e in entries][1:] == [
        (2, "dana", "deploy"),
        (3, "dana", "rollback"),
        (4, "admin", "secrets.read"),
        (5, "admin", "secrets.write"),
    ]
    assert verify_chain(entries).ok


def test_an_entry_rolled_back_with_its_action_is_not_linked_to(store: StateStore) -> None:
    store.audit.append("admin", "deploy", env="dev")
    with pytest.raises(RuntimeError), store.audit.appending("admin", "secrets.write", env="dev"):
        raise RuntimeError("the write failed")  # the entry goes with it
    store.audit.append("admin", "secrets.read", env="dev")
    entries = store.audit.entries()
    assert [e.action for e in entries] == ["deploy", "secrets.read"]
    assert verify_chain(entries).ok


@pytest.mark.parametrize(
    ("tamper", "broken_at", "problem"),
    [
        (lambda es: [es[0], replace(es[1], actor="mallory"), es[2]], 2, "does not match its hash"),
        (lambda es: [es[0], replace(es[1], result="denied"), es[2]], 2, "does not match its hash"),
        (lambda es: [es[0], es[2]], 3, "entry 2 is missing"),
        (lambda es: [es[1], es[0], es[2]], 2, "entry 1 is missing"),
        (
            lambda es: [
                es[0],
                replace(es[1], actor="x", hash=entry_hash(es[0].hash, {**vars(es[1]), "actor": "x"})),
                es[2],
            ],
            3,
            "does not link",
        ),
    ],
)
def test_any_change_breaks_the_chain_at_the_first_bad_entry(
    store: StateStore, tamper: object, broken_at: int, problem: str
) -> None:
    entries = chain(store)
    report = verify_chain(tamper(entries))  # type: ignore[operator]
    assert not report.ok and report.broken_at == broken_at and problem in report.problem


def test_the_database_refuses_to_change_or_delete_entries(store: StateStore, tmp_path: Path) -> None:
    chain(store)
    with sqlite3.connect(tmp_path / "state.db") as db:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("UPDATE audit SET actor = 'mallory' WHERE id = 2")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("DELETE FROM audit WHERE id = 3")


def test_filters(store: StateStore) -> None:
    chain(store)
    assert [e.actor for e in store.audit.entries(env="dev")] == ["dana", "vic"]
    assert [e.action for e in store.audit.entries(actor="admin")] == ["users.add"]


def test_principal_from_token_with_grants_revocation_and_disabling(store: StateStore) -> None:
    ids = store.identity
    ids.add_user("dana", by="admin")
    assert ids.grant("dana", "deployer", "dev", by="admin")
    assert not ids.grant("dana", "deployer", "dev", by="admin")  # already held
    tid = ids.add_token("dana", "sy_secret-1", "laptop")
    ids.add_token("dana", "sy_secret-2", "ci")
    who = ids.principal("sy_secret-1")
    assert who.user == "dana" and who.token_id == tid and who.may("deploy", "dev")
    assert ids.revoke("dana", "deployer", "dev")
    assert not ids.principal("sy_secret-1").may("deploy", "dev")
    ids.revoke_token(tid)
    with pytest.raises(AuthError, match="revoked"):
        ids.principal("sy_secret-1")
    assert ids.principal("sy_secret-2").user == "dana"
    assert ids.disable_user("dana") == 1
    with pytest.raises(AuthError):
        ids.principal("sy_secret-2")
    with pytest.raises(AuthError):
        ids.principal("sy_never-issued")
    listed = ids.users()
    assert listed[0]["name"] == "dana" and listed[0]["disabled"] is True
    assert "sy_secret" not in repr(listed)  # only ids and hashes are stored, never tokens


def test_user_errors(store: StateStore) -> None:
    store.identity.add_user("dana", by="admin")
    with pytest.raises(ConflictError, match="already exists"):
        store.identity.add_user("dana", by="admin")
    with pytest.raises(NotFoundError, match="no user 'bob'"):
        store.identity.grant("bob", "viewer", "*", by="admin")
    with pytest.raises(NotFoundError, match="no token"):
        store.identity.revoke_token("tk_nothing")


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("r1", "r1"),
        (
            "x\n#99 2026-01-01 00:00:00 admin users.add eve: ok",
            "x\\n#99 2026-01-01 00:00:00 admin users.add eve: ok",
        ),
        ("a\r\nb", "a\\r\\nb"),
        ("\x1b[2K\rfake", "\\x1b[2K\\rfake"),
        ("a\u2028b\x85c", "a\\u2028b\\x85c"),
    ],
)
def test_no_field_can_forge_a_second_line(store: StateStore, value: str, stored: str) -> None:
    entry = store.audit.append(value, value, env=value, target=value, source=value, detail=value)
    kept = store.audit.entries()[-1]
    for field in ("actor", "action", "env", "target", "source", "detail"):
        assert getattr(kept, field) == getattr(entry, field) == stored
    assert verify_chain(store.audit.entries()).ok


def test_any_exception_inside_an_audited_action_is_recorded_then_raised(store: StateStore) -> None:
    access = Access(store, lambda: ["dev"])
    admin = Principal("admin", (Grant("admin", "*"),))

    def bug() -> None:
        raise KeyError("the secret value s3cr3t")  # a bug's text may hold anything

    with pytest.raises(KeyError), access.audited(admin, "deploy", "deploy", env="dev", target="r1"):
        bug()
    last = store.audit.entries()[-2:]
    assert [(e.action, e.result) for e in last] == [("deploy", "ok"), ("deploy", "error")]
    assert last[1].detail == "internal error (KeyError)" and last[1].target == "r1"


def test_refused_reads_of_users_and_the_audit_log_are_recorded(store: StateStore) -> None:
    access = Access(store, lambda: ["dev"])
    vic = Principal("vic", (Grant("viewer", "dev"),))
    with pytest.raises(ForbiddenError):
        access.allow(vic, "admin", "audit.list", source="127.0.0.1")
    last = store.audit.entries()[-1]
    assert (last.actor, last.action, last.result, last.source) == ("vic", "audit.list", "denied", "127.0.0.1")
    access.allow(Principal("admin", (Grant("admin", "*"),)), "admin", "audit.list")
    assert store.audit.entries()[-1] == last  # allowed reads are not audited
