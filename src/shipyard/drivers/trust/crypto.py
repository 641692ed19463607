"""Envelope encryption of the secrets vault: AES-256-GCM from ``cryptography``.

One master key (32 bytes, from ``drivers/trust/keyfile.py``) wraps one random data key per
environment; the data key encrypts that environment's secret values. Rotating the master key
re-wraps the data keys and leaves every value untouched.

Every ciphertext carries associated data that says what it is, so nothing can be moved:

- a wrapped data key is bound to its environment and to the master key's id, so a key wrapped
  for ``staging`` does not unwrap as ``production``, and a wrong master key is named as such;
- a value is bound to (environment, secret name, version), so swapping ciphertexts between
  names, versions or environments fails authentication.

Formats (version byte first, so a later format can be told apart):

    wrapped data key:  0x01 | master key id (8 bytes) | nonce (12) | ciphertext + tag (48)
    secret value:      0x01 | nonce (12) | ciphertext + tag

Called by the vault service in the engine and, through it, by the ``shipyard secrets``
commands. Messages never contain key bytes or plaintext.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shipyard.core.vault import MASKED, Secret
from shipyard.errors import VaultError

__all__ = ["MASKED", "Secret", "decrypt_value", "encrypt_value", "rewrap", "unwrap_data_key", "wrap_data_key"]

KEY_SIZE = 32
NONCE_SIZE = 12
KEY_ID_SIZE = 8
TAG_SIZE = 16
FORMAT_V1 = b"\x01"
VALUE_OVERHEAD = len(FORMAT_V1) + NONCE_SIZE + TAG_SIZE  # a value's ciphertext less its plaintext

_WRAP_LABEL = b"shipyard/data-key/v1"
_VALUE_LABEL = b"shipyard/secret/v1"
_WRAPPED_SIZE = 1 + KEY_ID_SIZE + NONCE_SIZE + KEY_SIZE + 16
_KEY_HINT = (
    "Supply the master key this vault was sealed with: set SHIPYARD_MASTER_KEY or restore "
    "the key file from your backup."
)
_MASTER_HINT = "A master key is 32 random bytes, base64 in SHIPYARD_MASTER_KEY or the key file."
_ROW_HINT = "Restore the vault from a backup, or set the secret again."


def key_id(master: bytes) -> str:
    """The master key's public fingerprint: the first 8 bytes of its SHA-256, in hex."""
    return _key_id_bytes(master).hex()


def new_data_key() -> bytes:
    """A fresh random data key for one environment."""
    return os.urandom(KEY_SIZE)


def wrap_data_key(master: bytes, env: str, data_key: bytes) -> bytes:
    """Encrypt ``data_key`` under ``master`` for environment ``env``."""
    _check_key(master, "master key")
    _check_key(data_key, "data key")
    kid = _key_id_bytes(master)
    nonce = os.urandom(NONCE_SIZE)
    sealed = AESGCM(master).encrypt(nonce, data_key, _wrap_aad(env, kid))
    return FORMAT_V1 + kid + nonce + sealed


def unwrap_data_key(master: bytes, env: str, wrapped: bytes) -> bytes:
    """The data key of ``env``; a wrong master key or a moved or altered row is a ``VaultError``."""
    _check_key(master, "master key")
    if len(wrapped) != _WRAPPED_SIZE or wrapped[:1] != FORMAT_V1:
        raise VaultError(
            f"the data key of environment {env!r} is not in a format this Shipyard reads "
            f"({len(wrapped)} bytes): the vault row is corrupted",
            _ROW_HINT,
        )
    kid, nonce, sealed = _split_wrapped(wrapped)
    expected = _key_id_bytes(master)
    if not hmac.compare_digest(kid, expected):
        raise VaultError(
            f"the master key does not match the one environment {env!r} was sealed with "
            f"(key id {expected.hex()}, expected {kid.hex()})",
            _KEY_HINT,
        )
    try:
        return AESGCM(master).decrypt(nonce, sealed, _wrap_aad(env, kid))
    except InvalidTag:
        raise VaultError(
            f"the data key stored for environment {env!r} does not authenticate: it belongs to "
            "another environment, or the vault row is corrupted or was tampered with",
            _ROW_HINT,
        ) from None


def rewrap(old_master: bytes, new_master: bytes, env: str, wrapped: bytes) -> bytes:
    """Master-key rotation: the same data key, wrapped under ``new_master``."""
    return wrap_data_key(new_master, env, unwrap_data_key(old_master, env, wrapped))


def encrypt_value(data_key: bytes, env: str, name: str, version: int, plaintext: str) -> bytes:
    """Encrypt one version of one secret, bound to where it belongs."""
    _check_key(data_key, "data key")
    nonce = os.urandom(NONCE_SIZE)
    sealed = AESGCM(data_key).encrypt(nonce, plaintext.encode(), _value_aad(env, name, version))
    return FORMAT_V1 + nonce + sealed


def value_size(ciphertext_size: int) -> int:
    """Bytes of the UTF-8 plaintext that a value's ciphertext of ``ciphertext_size`` bytes seals
    (AES-GCM adds no padding), known without the key."""
    return ciphertext_size - VALUE_OVERHEAD


def decrypt_value(data_key: bytes, env: str, name: str, version: int, ciphertext: bytes) -> str:
    """The plaintext of one secret version; a moved, altered or truncated row is a ``VaultError``."""
    _check_key(data_key, "data key")
    where = f"secret {name!r} (version {version}) of environment {env!r}"
    if len(ciphertext) < VALUE_OVERHEAD or ciphertext[:1] != FORMAT_V1:
        raise VaultError(f"{where} is not in a format this Shipyard reads: the row is corrupted", _ROW_HINT)
    nonce, sealed = ciphertext[1 : 1 + NONCE_SIZE], ciphertext[1 + NONCE_SIZE :]
    try:
        plain = AESGCM(data_key).decrypt(nonce, sealed, _value_aad(env, name, version))
    except InvalidTag:
        raise VaultError(
            f"{where} does not decrypt: the vault row is corrupted or was tampered with", _ROW_HINT
        ) from None
    return plain.decode()


def _key_id_bytes(master: bytes) -> bytes:
    return hashlib.sha256(master).digest()[:KEY_ID_SIZE]


def _check_key(key: bytes, what: str) -> None:
    if len(key) != KEY_SIZE:
        hint = _MASTER_HINT if what == "master key" else _ROW_HINT
        raise VaultError(f"the {what} must be {KEY_SIZE} bytes, got {len(key)}", hint)


def _split_wrapped(wrapped: bytes) -> tuple[bytes, bytes, bytes]:
    kid_end = 1 + KEY_ID_SIZE
    nonce_end = kid_end + NONCE_SIZE
    return wrapped[1:kid_end], wrapped[kid_end:nonce_end], wrapped[nonce_end:]


def _wrap_aad(env: str, kid: bytes) -> bytes:
    return _encode_parts(_WRAP_LABEL, env.encode(), kid.hex().encode())


def _value_aad(env: str, name: str, version: int) -> bytes:
    return _encode_parts(_VALUE_LABEL, env.encode(), name.encode(), str(version).encode())


def _encode_parts(*parts: bytes) -> bytes:
    """Length-prefixed parts, so no choice of names can make two different tuples collide."""
    return b"".join(struct.pack(">I", len(part)) + part for part in parts)
