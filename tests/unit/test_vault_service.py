"""The vault service on a real SQLite store and real AES-GCM: every rule of issue 4's vault."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from shipyard.core.access import Grant, Principal
from shipyard.drivers.trust import crypto, keyfile
from shipyard.drivers.trust.crypto import Secret
from shipyard.engine.trust.access import Access
from shipyard.engine.trust.vault import Vault
from shipyard.errors import ConflictError, ForbiddenError, NotFoundError, StateError, VaultError
from shipyard.manifest.models import Vault as Settings
from shipyard.state.store import StateStore, open_store

ADMIN = Principal("admin", (Grant("admin", "*"),))
DANA = Principal("dana", (Grant("deployer", "dev"),))
SAM = Principal("sam", (Grant("secrets-reader", "dev"),))
WES = Principal("wes", (Grant("secrets-writer", "dev"),))


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return open_store(tmp_path / "state.db")


def make_vault(store: StateStore, home: Path, clock: Clock | None = None, **settings: object) -> Vault:
    access = Access(store, lambda: ["dev", "production"])
    vault = Vault(store, access, home / "master.key", lambda: Settings(**settings), clock or Clock())
    vault.open()
    return vault


def put(
    vault: Vault, name: str, value: str, who: Principal = ADMIN, env: str = "dev", cas: int | None = None
) -> int:
    meta = vault.set(who, env, name, Secret(value), cas=cas, rotate_every=None, expires_at=None, source="t")
    return meta.version


def read(
    vault: Vault, name: str, who: Principal = ADMIN, env: str = "dev", version: int | None = None
) -> str:
    return vault.get(who, env, name, version, "t").reveal()


def test_values_round_trip_and_versions_are_kept_up_to_the_limit(store: StateStore, tmp_path: Path) -> None:
    vault = make_vault(store, tmp_path, keep_versions=3)
    for i in range(1, 6):
        assert put(vault, "API_KEY", f"key-{i}") == i
    assert read(vault, "API_KEY") == "key-5"
    assert read(vault, "API_KEY", version=3) == "key-3"
    kept = [v["version"] for v in vault.history(ADMIN, "dev", "API_KEY")["versions"]]
    assert kept == [5, 4, 3]
    with pytest.raises(NotFoundError, match="has no version 2"):
        read(vault, "API_KEY", version=2)
    # the key file is private, and the database holds no plaintext
    assert (tmp_path / "master.key").stat().st_mode & 0o777 == 0o600
    raw = (tmp_path / "state.db").read_bytes() + (tmp_path / "state.db-wal").read_bytes()
    assert b"key-5" not in raw and b"key-1" not in raw


def test_check_and_set_refuses_a_stale_write(store: StateStore, tmp_path: Path) -> None:
    vault = make_vault(store, tmp_path)
    assert put(vault, "TOKEN", "a", cas=0) == 1
    with pytest.raises(ConflictError, match="you saw no such secret, it is now version 1"):
        put(vault, "TOKEN", "b", cas=0)
    assert put(vault, "TOKEN", "b", cas=1) == 2
    with pytest.raises(ConflictError, match="you saw version 1, it is now version 2") as caught:
        put(vault, "TOKEN", "c", cas=1)
    assert "retry with --cas 2" in caught.value.hint
    assert read(vault, "TOKEN") == "b"


def test_roles_decide_who_lists_reads_writes_and_purges(store: StateStore, tmp_path: Path) -> None:
    vault = make_vault(store, tmp_path)
    put(vault, "TOKEN", "t0p")
    assert [s["name"] for s in vault.listing(DANA, "dev")] == ["TOKEN"]  # a deployer sees names
    assert all(s["value"] == "**********" for s in vault.listing(DANA, "dev"))
    with pytest.raises(ForbiddenError, match="user 'dana' may not secrets-read in environment 'dev'"):
        read(vault, "TOKEN", who=DANA)
    assert read(vault, "TOKEN", who=SAM) == "t0p"
    with pytest.raises(ForbiddenError, match="may not secrets-write"):
        put(vault, "TOKEN", "x", who=SAM)
    with pytest.raises(ForbiddenError, match="may not secrets-read in environment 'production'"):
        read(vault, "TOKEN", who=SAM, env="production")
    assert put(vault, "TOKEN", "new", who=WES) == 2
    vault.delete(WES, "dev", "TOKEN", "t")
    with pytest.raises(ForbiddenError, match="may not secrets-purge"):
        vault.purge(WES, "dev", "TOKEN", "t")
    assert vault.purge(ADMIN, "dev", "TOKEN", "t") == 2
    with pytest.raises(NotFoundError):
        vault.listing(ADMIN, "staging")
    # every read of a value and every change is audited, refusals too; values never are
    entries = store.audit.entries()
    seen = {(e.actor, e.action, e.result) for e in entries}
    assert ("dana", "secrets.read", "denied") in seen and ("sam", "secrets.read", "ok") in seen
    assert ("wes", "secrets.set", "ok") in seen and ("admin", "secrets.purge", "ok") in seen
    assert not any("t0p" in repr(e) or e.detail == "new" for e in entries)


def test_delete_recover_and_purge_after_retention(store: StateStore, tmp_path: Path) -> None:
    clock = Clock()
    vault = make_vault(store, tmp_path, clock, deleted_retention="7d")
    put(vault, "OLD", "1")
    put(vault, "KEEP", "2")
    vault.delete(ADMIN, "dev", "OLD", "t")
    with pytest.raises(NotFoundError, match="is deleted"):
        read(vault, "OLD")
    with pytest.raises(ConflictError, match="is deleted"):
        put(vault, "OLD", "3")
    assert vault.values_for("dev", "i1") == {"KEEP": "2"}  # a deleted secret is not injected
    vault.recover(ADMIN, "dev", "OLD", "t")
    assert read(vault, "OLD") == "1"
    with pytest.raises(ConflictError, match="is not deleted"):
        vault.purge(ADMIN, "dev", "OLD", "t")
    vault.delete(ADMIN, "dev", "OLD", "t")
    clock.now += 6 * 86400
    assert vault.purge_expired() == []
    clock.now += 2 * 86400
    assert vault.purge_expired() == ["dev/OLD"]
    assert [m["name"] for m in vault.listing(ADMIN, "dev")] == ["KEEP"]


def test_due_lists_overdue_and_soon_due_secrets(store: StateStore, tmp_path: Path) -> None:
    clock = Clock()
    vault = make_vault(store, tmp_path, clock)
    day = 86400.0
    vault.set(
        ADMIN, "dev", "ROTATED", Secret("a"), cas=None, rotate_every=90 * day, expires_at=None, source=""
    )
    vault.set(
        ADMIN,
        "dev",
        "EXPIRING",
        Secret("b"),
        cas=None,
        rotate_every=None,
        expires_at=clock.now + 10 * day,
        source="",
    )
    vault.set(
        ADMIN,
        "production",
        "GONE",
        Secret("c"),
        cas=None,
        rotate_every=None,
        expires_at=clock.now - 1,
        source="",
    )
    put(vault, "FOREVER", "d")
    assert [(d["name"], d["state"]) for d in vault.due(ADMIN)] == [("GONE", "overdue"), ("EXPIRING", "due")]
    clock.now += 80 * day
    assert [d["name"] for d in vault.due(ADMIN)] == ["GONE", "EXPIRING", "ROTATED"]
    assert [d["name"] for d in vault.due(DANA)] == ["EXPIRING", "ROTATED"]  # only what dana may list
    put(vault, "ROTATED", "rotated")  # a new version restarts the rotation period
    assert "ROTATED" not in [d["name"] for d in vault.due(ADMIN)]


def test_the_default_rotation_goes_to_new_secrets_only(store: StateStore, tmp_path: Path) -> None:
    day = 86400.0
    vault = make_vault(store, tmp_path, rotate_every="30d")

    def rotation(name: str) -> float | None:
        meta = store.vault.meta("dev", name)
        assert meta is not None
        return meta.rotate_every

    put(vault, "NEW", "a")
    assert rotation("NEW") == 30 * day  # a new secret gets the vault's default
    vault.set(ADMIN, "dev", "NEW", Secret("b"), cas=None, rotate_every=0, expires_at=None, source="t")
    assert rotation("NEW") is None  # 0 clears it
    put(vault, "NEW", "c")
    assert rotation("NEW") is None  # a later write keeps the secret's own policy
    vault.import_values(ADMIN, "dev", {"NEW": Secret("d"), "OTHER": Secret("e")}, True, "t")
    assert (rotation("NEW"), rotation("OTHER")) == (None, 30 * day)


def test_import_is_all_or_none(store: StateStore, tmp_path: Path) -> None:
    vault = make_vault(store, tmp_path)
    put(vault, "B", "old")
    with pytest.raises(VaultError, match="'B' already exists"):
        vault.import_values(ADMIN, "dev", {"A": Secret("1"), "B": Secret("2")}, False, "t")
    assert [m["name"] for m in vault.listing(ADMIN, "dev")] == ["B"]
    with pytest.raises(VaultError, match="invalid secret name '1BAD'"):
        vault.import_values(ADMIN, "dev", {"A": Secret("1"), "1BAD": Secret("2")}, True, "t")
    vault.import_values(ADMIN, "dev", {"A": Secret("1"), "B": Secret("2")}, True, "t")
    assert {k: v.reveal() for k, v in vault.export(ADMIN, "dev", "t").items()} == {"A": "1", "B": "2"}


def test_master_key_rotation_rewraps_and_survives_a_crash(store: StateStore, tmp_path: Path) -> None:
    vault = make_vault(store, tmp_path)
    put(vault, "A", "alpha")
    put(vault, "B", "beta", env="production")
    before = (tmp_path / "master.key").read_text()
    versions = store.vault.current_ciphertexts("dev")
    done = vault.rotate_master_key(ADMIN, "t")
    assert done["environments"] == ["dev", "production"]
    assert (tmp_path / "master.key").read_text() != before
    assert store.vault.current_ciphertexts("dev") == versions  # values untouched
    assert read(vault, "A") == "alpha" and read(vault, "B", env="production") == "beta"
    # a crash after the re-wrap but before the key file was replaced: the next start finishes it
    master = keyfile.load_master_key(tmp_path / "master.key")
    new = keyfile.generate_master_key()
    keyfile.write_pending_key(tmp_path / "master.key", new)
    wrapped = {e: crypto.rewrap(master.key, new, e, w) for e, (w, _) in store.vault.data_keys().items()}
    store.vault.rewrap(wrapped, crypto.key_id(new))
    again = make_vault(store, tmp_path)
    assert read(again, "A") == "alpha"
    assert keyfile.load_master_key(tmp_path / "master.key").key == new
    # a crash before the re-wrap: the pending key is dropped, the old key still opens the vault
    keyfile.write_pending_key(tmp_path / "master.key", keyfile.generate_master_key())
    assert read(make_vault(store, tmp_path), "B", env="production") == "beta"
    assert not (tmp_path / "master.key.next").exists()


def test_a_wrong_master_key_is_named_and_loses_nothing(
    store: StateStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(make_vault(store, tmp_path), "A", "alpha")
    monkeypatch.setenv(keyfile.ENV_VAR, keyfile.encode_master_key(keyfile.generate_master_key()))
    wrong = Vault(store, Access(store, lambda: ["dev"]), tmp_path / "master.key", Settings)
    assert "WARNING: the master key" in wrong.open()
    with pytest.raises(
        VaultError, match="master key does not match the one environment 'dev' was sealed with"
    ):
        read(wrong, "A")
    with pytest.raises(VaultError, match="does not match"):
        put(wrong, "A", "overwritten")
    monkeypatch.delenv(keyfile.ENV_VAR)
    assert read(make_vault(store, tmp_path), "A") == "alpha"


def test_a_corrupted_row_is_detected_and_the_others_still_read(store: StateStore, tmp_path: Path) -> None:
    vault = make_vault(store, tmp_path)
    put(vault, "A", "alpha")
    put(vault, "B", "beta")
    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute(
            "UPDATE secret_versions SET ciphertext = CAST(ciphertext || x'00' AS BLOB) WHERE name = 'A'"
        )
    with pytest.raises(VaultError, match="secret 'A' \\(version 1\\) of environment 'dev' does not decrypt"):
        read(vault, "A")
    assert read(vault, "B") == "beta"
    # moving a ciphertext to another name fails too (bound by associated data)
    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute(
            "UPDATE secret_versions SET ciphertext = (SELECT ciphertext FROM secret_versions WHERE name='B')"
            " WHERE name = 'A'"
        )
    with pytest.raises(VaultError, match="does not decrypt"):
        read(vault, "A")


def test_no_read_and_no_injection_without_the_audit_log(store: StateStore, tmp_path: Path) -> None:
    vault = make_vault(store, tmp_path)
    put(vault, "A", "alpha")
    with sqlite3.connect(tmp_path / "state.db") as db:  # the database refuses every new entry
        db.execute("CREATE TRIGGER audit_full BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'full'); END")
    with pytest.raises(StateError, match="audit log cannot be written"):
        read(vault, "A")
    with pytest.raises(StateError, match="audit log cannot be written"):
        vault.set(
            ADMIN, "dev", "A", Secret("changed"), cas=None, rotate_every=None, expires_at=None, source=""
        )
    meta = store.vault.meta("dev", "A")
    assert meta is not None and meta.version == 1  # the write was refused with its entry
    with pytest.raises(StateError, match="audit log cannot be written"):
        vault.values_for("dev", "dev/blue/1")


def test_a_value_read_or_written_is_committed_with_its_audit_entry(store: StateStore, tmp_path: Path) -> None:
    """One transaction (one fsync) for the entry and the action: both are there, or neither."""
    vault = make_vault(store, tmp_path)
    put(vault, "A", "alpha", cas=0)
    with pytest.raises(ConflictError):
        put(vault, "A", "again", cas=0)  # refused by check-and-set: its "ok" entry is rolled back
    assert read(vault, "A") == "alpha"
    with pytest.raises(NotFoundError):
        read(vault, "MISSING")
    entries = [
        (e.action, e.target, e.result) for e in store.audit.entries() if e.action.startswith("secrets.")
    ]
    assert entries == [
        ("secrets.set", "A", "ok"),
        ("secrets.set", "", "error"),
        ("secrets.read", "A", "ok"),
        ("secrets.read", "", "error"),
    ]
    assert store.vault.history("dev", "A")[0]["version"] == 1


def test_secret_values_never_print(store: StateStore, tmp_path: Path) -> None:
    value = Secret("hunter2")
    assert repr(value) == str(value) == f"{value}" == "**********"
    vault = make_vault(store, tmp_path)
    put(vault, "A", "hunter2")
    assert "hunter2" not in repr(vault.listing(ADMIN, "dev")) + repr(vault.get(ADMIN, "dev", "A", None, ""))


@pytest.mark.parametrize("name", ["PORT", "SHIPYARD_ENV", "1ABC", "has-dash", "a b", ""])
def test_names_that_cannot_be_environment_variables_are_refused(
    store: StateStore, tmp_path: Path, name: str
) -> None:
    with pytest.raises(VaultError, match="secret name"):
        put(make_vault(store, tmp_path), name, "x")


def test_the_runtime_reads_one_secret_alone_audited_by_its_name(store: StateStore, tmp_path: Path) -> None:
    vault = make_vault(store, tmp_path)
    put(vault, "HOOK", "sign-me")
    put(vault, "HOOK", "sign-me-2")
    put(vault, "OTHER", "x")
    put(vault, "GONE", "y")
    vault.delete(ADMIN, "dev", "GONE", "t")
    before = len(store.audit.entries())
    assert vault.value_for("dev", "HOOK", "github webhook signature", "webhook:github") == "sign-me-2"
    assert vault.value_for("dev", "GONE", "p") is None  # deleted: not read, not audited
    assert vault.value_for("dev", "NONE", "p") is None
    (entry,) = store.audit.entries()[before:]
    assert (entry.actor, entry.action, entry.target, entry.detail) == (
        "webhook:github", "secrets.use", "github webhook signature", "HOOK"
    )  # fmt: skip
