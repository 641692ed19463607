"""The vault's size limits and its refusal to replace a lost master key (real SQLite, real AES)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.core import secret_limits as limits
from shipyard.core.access import Grant, Principal
from shipyard.core.vault import Secret
from shipyard.drivers.trust import crypto, keyfile
from shipyard.engine.trust.access import Access
from shipyard.engine.trust.vault import Vault
from shipyard.errors import VaultError
from shipyard.manifest.models import Vault as Settings
from shipyard.state.store import StateStore, open_store

ADMIN = Principal("admin", (Grant("admin", "*"),))


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return open_store(tmp_path / "state.db")


@pytest.fixture(autouse=True)
def no_key_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(keyfile.ENV_VAR, raising=False)


def opened(store: StateStore, home: Path) -> Vault:
    vault = Vault(store, Access(store, lambda: ["dev"]), home / "master.key", lambda: Settings())
    vault.open()
    return vault


def put(vault: Vault, name: str, value: str) -> None:
    vault.set(ADMIN, "dev", name, Secret(value), cas=None, rotate_every=None, expires_at=None, source="t")


def test_a_value_over_64_kib_is_refused_naming_the_secret_and_the_limit(
    store: StateStore, tmp_path: Path
) -> None:
    vault = opened(store, tmp_path)
    put(vault, "FITS", "x" * limits.MAX_VALUE)
    with pytest.raises(VaultError) as info:
        put(vault, "HUGE", "x" * (5 * 1024 * 1024))
    assert "secret 'HUGE' in 'dev' is 5.0 MiB; a secret's value may be at most 64 KiB" in info.value.message
    assert store.vault.meta("dev", "HUGE") is None
    failed = [e for e in store.audit.entries() if e.action == "secrets.set" and e.result == "error"]
    assert failed, "a refused write is audited as failed"


def test_import_checks_each_value_the_count_and_the_total_all_or_none(
    store: StateStore, tmp_path: Path
) -> None:
    vault = opened(store, tmp_path)
    with pytest.raises(VaultError, match=r"secret 'B' in 'dev' is 64\.0 KiB"):
        vault.import_values(ADMIN, "dev", {"A": Secret("1"), "B": Secret("x" * 65537)}, False, "t")
    many = {f"S{i}": Secret("v") for i in range(limits.MAX_SECRETS + 1)}
    with pytest.raises(VaultError, match=f"would hold {limits.MAX_SECRETS + 1} secrets; the limit is 200"):
        vault.import_values(ADMIN, "dev", many, False, "t")
    assert store.vault.metas("dev") == []
    big = {f"K{i}": Secret("x" * 60_000) for i in range(8)}  # 8 x 60 kB > 512 KiB together
    with pytest.raises(VaultError, match=r"the limit is 512 KiB per environment") as info:
        vault.import_values(ADMIN, "dev", {**big, "K8": Secret("x" * 60_000)}, False, "t")
    assert "per environment" in info.value.message
    assert store.vault.metas("dev") == []


def test_the_total_counts_the_secrets_already_stored(store: StateStore, tmp_path: Path) -> None:
    vault = opened(store, tmp_path)
    for i in range(8):
        put(vault, f"K{i}", "x" * 60_000)
    put(vault, "K0", "y" * 60_000)  # replacing a value does not count it twice
    with pytest.raises(VaultError, match=r"the secrets of 'dev' would take .* the limit is 512 KiB"):
        put(vault, "K8", "x" * 60_000)


def test_import_file_size_is_checked_before_reading() -> None:
    limits.check_import_file("f.env", limits.MAX_IMPORT_FILE)
    with pytest.raises(
        VaultError, match=r"f.env is 5.0 MiB; a file given to `secrets import` may be at most"
    ):
        limits.check_import_file("f.env", 5 * 1024 * 1024)


def test_a_missing_key_with_a_non_empty_vault_refuses_to_open(store: StateStore, tmp_path: Path) -> None:
    put(opened(store, tmp_path), "TOKEN", "s3cret")
    (tmp_path / "master.key").unlink()
    with pytest.raises(VaultError) as info:
        opened(store, tmp_path)
    assert f"the master key file {tmp_path / 'master.key'} is missing" in info.value.message
    assert "refuses to start" in info.value.message
    assert "Restore" in info.value.hint and keyfile.ENV_VAR in info.value.hint
    assert not (tmp_path / "master.key").exists(), "no new key replaces the lost one"


def test_the_key_from_the_variable_opens_a_vault_whose_file_is_gone(
    store: StateStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(opened(store, tmp_path), "TOKEN", "s3cret")
    text = (tmp_path / "master.key").read_text().strip()
    (tmp_path / "master.key").unlink()
    monkeypatch.setenv(keyfile.ENV_VAR, text)
    assert opened(store, tmp_path).get(ADMIN, "dev", "TOKEN", None, "t").reveal() == "s3cret"


def test_an_empty_vault_gets_a_new_key(store: StateStore, tmp_path: Path) -> None:
    opened(store, tmp_path)
    assert (tmp_path / "master.key").stat().st_mode & 0o777 == 0o600


def test_stored_secrets_are_measured_to_the_byte_unread(store: StateStore, tmp_path: Path) -> None:
    vault = opened(store, tmp_path)
    for i in range(8):
        put(vault, f"A{i}", "é" * 30_000)  # 60,000 bytes of UTF-8: 60,004 with "A0=" and the NUL
    room = limits.MAX_TOTAL - 8 * 60_004 - len("LAST=") - 1
    sizes = store.vault.sizes_besides("dev", ["A7"])
    assert (sizes.count, sizes.name_bytes) == (7, 14)
    assert sizes.sealed_bytes - 7 * crypto.VALUE_OVERHEAD == 7 * 60_000
    put(vault, "LAST", "é" * (room // 2))  # exactly at the limit: allowed
    with pytest.raises(VaultError, match=r"the limit is 512 KiB per environment"):
        put(vault, "LAST", "é" * (room // 2) + "x")  # one byte over
    vault.delete(ADMIN, "dev", "A0", "t")  # a deleted secret no longer counts
    assert store.vault.sizes_besides("dev", []).count == 8  # A1..A7 and LAST
    put(vault, "LAST", "é" * (room // 2) + "x")
