"""Envelope encryption: data keys bound to their environment, values to their place, no leaks."""

from __future__ import annotations

import pytest

from shipyard.drivers.trust.crypto import (
    Secret,
    decrypt_value,
    encrypt_value,
    key_id,
    new_data_key,
    rewrap,
    unwrap_data_key,
    value_size,
    wrap_data_key,
)
from shipyard.errors import VaultError

MASTER = bytes(range(32))
OTHER_MASTER = bytes(range(1, 33))
PLAINTEXT = "postgres://app:hunter2@db/app"


@pytest.fixture
def data_key() -> bytes:
    return new_data_key()


def test_data_keys_are_random_and_32_bytes() -> None:
    keys = {new_data_key() for _ in range(5)}
    assert len(keys) == 5 and {len(k) for k in keys} == {32}


def test_key_id_is_a_stable_public_fingerprint() -> None:
    assert key_id(MASTER) == key_id(bytes(MASTER))
    assert len(key_id(MASTER)) == 16 and key_id(MASTER) != key_id(OTHER_MASTER)
    assert MASTER.hex()[:16] != key_id(MASTER)


def test_wrap_and_unwrap_round_trip(data_key: bytes) -> None:
    wrapped = wrap_data_key(MASTER, "production", data_key)
    assert wrapped[:1] == b"\x01" and data_key not in wrapped
    assert wrapped[1:9].hex() == key_id(MASTER)
    assert unwrap_data_key(MASTER, "production", wrapped) == data_key


def test_wrapping_twice_gives_different_bytes(data_key: bytes) -> None:
    assert wrap_data_key(MASTER, "dev", data_key) != wrap_data_key(MASTER, "dev", data_key)


def test_a_wrong_master_key_is_named_with_both_key_ids(data_key: bytes) -> None:
    wrapped = wrap_data_key(MASTER, "production", data_key)
    with pytest.raises(VaultError) as caught:
        unwrap_data_key(OTHER_MASTER, "production", wrapped)
    error = caught.value
    assert "master key does not match" in error.message
    assert f"key id {key_id(OTHER_MASTER)}, expected {key_id(MASTER)}" in error.message
    assert "SHIPYARD_MASTER_KEY" in error.hint
    assert error.status == 422


def test_a_key_wrapped_for_one_environment_does_not_unwrap_as_another(data_key: bytes) -> None:
    wrapped = wrap_data_key(MASTER, "staging", data_key)
    with pytest.raises(VaultError, match="'production' does not authenticate"):
        unwrap_data_key(MASTER, "production", wrapped)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda w: w[:-1] + bytes([w[-1] ^ 1]), "does not authenticate"),
        (lambda w: w[:20] + bytes([w[20] ^ 1]) + w[21:], "does not authenticate"),
        (lambda w: w[:-1], "not in a format"),
        (lambda w: b"\x02" + w[1:], "not in a format"),
        (lambda w: b"", "not in a format"),
    ],
    ids=["tag", "nonce", "truncated", "unknown-version", "empty"],
)
def test_an_altered_wrapped_key_is_refused(data_key: bytes, change: object, problem: str) -> None:
    wrapped = change(wrap_data_key(MASTER, "dev", data_key))  # type: ignore[operator]
    with pytest.raises(VaultError, match=problem):
        unwrap_data_key(MASTER, "dev", wrapped)


def test_rewrap_moves_a_data_key_to_the_new_master_without_touching_values(data_key: bytes) -> None:
    value = encrypt_value(data_key, "dev", "DATABASE_URL", 1, PLAINTEXT)
    wrapped = wrap_data_key(MASTER, "dev", data_key)
    rewrapped = rewrap(MASTER, OTHER_MASTER, "dev", wrapped)
    assert rewrapped[1:9].hex() == key_id(OTHER_MASTER)
    new_key = unwrap_data_key(OTHER_MASTER, "dev", rewrapped)
    assert decrypt_value(new_key, "dev", "DATABASE_URL", 1, value) == PLAINTEXT
    with pytest.raises(VaultError, match="master key does not match"):
        unwrap_data_key(MASTER, "dev", rewrapped)


def test_rewrap_with_the_wrong_old_master_fails_and_writes_nothing(data_key: bytes) -> None:
    wrapped = wrap_data_key(MASTER, "dev", data_key)
    with pytest.raises(VaultError, match="master key does not match"):
        rewrap(OTHER_MASTER, MASTER, "dev", wrapped)


@pytest.mark.parametrize("plaintext", ["", "x", PLAINTEXT, "ünïcødé ✓ 🚢", "line\nbreak", "a" * 10_000])
def test_values_round_trip(data_key: bytes, plaintext: str) -> None:
    sealed = encrypt_value(data_key, "dev", "NAME", 3, plaintext)
    assert decrypt_value(data_key, "dev", "NAME", 3, sealed) == plaintext


def test_a_value_never_appears_in_its_ciphertext(data_key: bytes) -> None:
    sealed = encrypt_value(data_key, "dev", "NAME", 1, PLAINTEXT)
    assert PLAINTEXT.encode() not in sealed
    assert sealed != encrypt_value(data_key, "dev", "NAME", 1, PLAINTEXT)


@pytest.mark.parametrize(
    ("env", "name", "version"),
    [("staging", "DATABASE_URL", 1), ("dev", "API_TOKEN", 1), ("dev", "DATABASE_URL", 2)],
    ids=["other-environment", "other-name", "other-version"],
)
def test_a_value_moved_to_another_place_fails_and_names_the_secret(
    data_key: bytes, env: str, name: str, version: int
) -> None:
    sealed = encrypt_value(data_key, "dev", "DATABASE_URL", 1, PLAINTEXT)
    with pytest.raises(VaultError) as caught:
        decrypt_value(data_key, env, name, version, sealed)
    message = caught.value.message
    assert f"secret {name!r} (version {version}) of environment {env!r}" in message
    assert "corrupted or was tampered with" in message
    assert PLAINTEXT not in message and PLAINTEXT not in caught.value.hint


def test_a_value_under_another_data_key_fails(data_key: bytes) -> None:
    sealed = encrypt_value(data_key, "dev", "NAME", 1, PLAINTEXT)
    with pytest.raises(VaultError, match="tampered"):
        decrypt_value(new_data_key(), "dev", "NAME", 1, sealed)


@pytest.mark.parametrize(
    "change",
    [lambda s: s[:-1] + bytes([s[-1] ^ 1]), lambda s: s[:5], lambda s: b"\x09" + s[1:]],
    ids=["flipped-bit", "truncated", "unknown-version"],
)
def test_an_altered_value_is_refused(data_key: bytes, change: object) -> None:
    sealed = change(encrypt_value(data_key, "dev", "NAME", 1, PLAINTEXT))  # type: ignore[operator]
    with pytest.raises(VaultError, match="secret 'NAME'"):
        decrypt_value(data_key, "dev", "NAME", 1, sealed)


@pytest.mark.parametrize("size", [0, 16, 31, 33])
def test_keys_of_the_wrong_size_are_refused_without_showing_them(size: int) -> None:
    bad = b"k" * size
    with pytest.raises(VaultError, match=f"must be 32 bytes, got {size}") as caught:
        wrap_data_key(bad, "dev", new_data_key())
    assert repr(bad) not in caught.value.message
    with pytest.raises(VaultError, match="data key must be 32 bytes"):
        encrypt_value(bad, "dev", "NAME", 1, "x")


def test_a_names_boundaries_cannot_be_shifted(data_key: bytes) -> None:
    sealed = encrypt_value(data_key, "a", "bc", 1, PLAINTEXT)
    with pytest.raises(VaultError):
        decrypt_value(data_key, "ab", "c", 1, sealed)


def test_a_secret_never_prints() -> None:
    secret = Secret(PLAINTEXT)
    shown = [repr(secret), str(secret), f"{secret}", f"{secret!r}", repr([secret]), repr({"k": secret})]
    assert all(PLAINTEXT not in text for text in shown)
    assert repr(secret) == str(secret) == "**********"
    assert secret.reveal() == PLAINTEXT


def test_secrets_compare_by_value_and_are_not_hashable() -> None:
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")
    assert Secret("a") != "a"
    with pytest.raises(TypeError):
        hash(Secret("a"))


@pytest.mark.parametrize("plaintext", ["", "s3cret", "é" * 1000, "🔑 key"])
def test_a_values_size_is_known_from_its_ciphertext_alone(plaintext: str) -> None:
    sealed = encrypt_value(new_data_key(), "dev", "NAME", 3, plaintext)
    assert value_size(len(sealed)) == len(plaintext.encode())
