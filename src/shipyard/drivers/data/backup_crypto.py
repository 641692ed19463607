"""Encryption of backups: AES-256-GCM over a stream of chunks, and where the backup key lives.

The backup key is kept apart from the data it protects: ``SHIPYARD_BACKUP_KEY`` (base64 of
32 bytes) when set, else the key file ``<home>/backup.key`` (0600, created on first use).
Copy it somewhere safe: a backup cannot be read without it.

A stream is a header then chunks, so a large file is never held whole in memory:

    header:  b"SYBK" | 0x01 | key id (8 bytes)
    chunk:   final flag (1) | length (4, big endian) | nonce (12) | ciphertext + tag (length)

Each chunk's associated data is (object name, chunk index, final flag): a chunk moved to
another position or another object, a dropped last chunk (truncation) or an appended one
fails authentication. Called by ``drivers/data/backup_pipeline.py``. Messages never contain key
bytes or plaintext.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shipyard.drivers.files import write_atomic
from shipyard.errors import BackupError

ENV_VAR = "SHIPYARD_BACKUP_KEY"
KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
MAGIC = b"SYBK\x01"
HEADER_SIZE = len(MAGIC) + 8
MAX_CHUNK = 16 * 1024 * 1024
_LABEL = b"shipyard/backup-chunk/v1"
_CORRUPT_HINT = "this backup is damaged: restore an older one (`shipyard backup list`)"


class Reader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class BackupKey:
    key: bytes = field(repr=False)
    source: str

    @property
    def id(self) -> str:
        return hashlib.sha256(self.key).digest()[:8].hex()


def load_backup_key(path: Path, environ: Mapping[str, str] | None = None) -> BackupKey:
    """The backup key from ``SHIPYARD_BACKUP_KEY``, else the key file (created if missing)."""
    env = os.environ if environ is None else environ
    if env.get(ENV_VAR, "").strip():
        return BackupKey(_decode(env[ENV_VAR], f"the {ENV_VAR} environment variable"), ENV_VAR)
    if not path.exists():
        write_atomic(path, base64.b64encode(os.urandom(KEY_SIZE)).decode() + "\n", mode=0o600)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise BackupError(
            f"the backup key file {path} is readable by others (mode {stat.S_IMODE(mode):o})",
            f"restrict it: chmod 600 {path}",
        )
    return BackupKey(_decode(path.read_text(), f"the key file {path}"), str(path))


def _decode(text: str, source: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_SIZE:
        raise BackupError(
            f"{source} does not hold a backup key (base64 of {KEY_SIZE} bytes)",
            "restore the key from where you keep it, or generate one with `openssl rand -base64 32`",
        )
    return key


def _aad(name: str, index: int, final: bool) -> bytes:
    raw = name.encode()
    return _LABEL + struct.pack(">I", len(raw)) + raw + struct.pack(">Q?", index, final)


def encrypt_stream(key: BackupKey, name: str, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The encrypted form of ``chunks`` (each at most 16 MiB), header first."""
    aes = AESGCM(key.key)
    yield MAGIC + bytes.fromhex(key.id)
    index = 0
    pending: bytes | None = None
    for chunk in chunks:
        if pending is not None:
            yield _seal(aes, name, index, False, pending)
            index += 1
        pending = chunk
    yield _seal(aes, name, index, True, pending or b"")


def _seal(aes: AESGCM, name: str, index: int, final: bool, plain: bytes) -> bytes:
    if len(plain) > MAX_CHUNK:
        raise ValueError("chunk too large")
    nonce = os.urandom(NONCE_SIZE)
    sealed = aes.encrypt(nonce, plain, _aad(name, index, final))
    return struct.pack(">?I", final, len(sealed)) + nonce + sealed


def decrypt_stream(key: BackupKey, name: str, source: Reader) -> Iterator[bytes]:
    """The plaintext chunks of an encrypted object; any damage is a ``BackupError``."""
    header = source.read(HEADER_SIZE)
    if len(header) != HEADER_SIZE or header[: len(MAGIC)] != MAGIC:
        raise BackupError(f"backup object {name} is not a Shipyard backup (bad header)", _CORRUPT_HINT)
    stored_id = header[len(MAGIC) :].hex()
    if stored_id != key.id:
        raise BackupError(
            f"backup object {name} was encrypted with another backup key (key id {stored_id}, "
            f"this one is {key.id}, from {key.source})",
            f"set {ENV_VAR} to the key the backup was made with, or restore that key file",
        )
    aes = AESGCM(key.key)
    index = 0
    while True:
        head = source.read(5)
        if not head:
            raise BackupError(f"backup object {name} is truncated after chunk {index}", _CORRUPT_HINT)
        if len(head) != 5:
            raise BackupError(f"backup object {name} is truncated in chunk {index}", _CORRUPT_HINT)
        final, length = struct.unpack(">?I", head)
        if length > MAX_CHUNK + TAG_SIZE:
            raise BackupError(f"backup object {name} chunk {index} has a bad length", _CORRUPT_HINT)
        body = source.read(NONCE_SIZE + length)
        if len(body) != NONCE_SIZE + length:
            raise BackupError(f"backup object {name} is truncated in chunk {index}", _CORRUPT_HINT)
        try:
            yield aes.decrypt(body[:NONCE_SIZE], body[NONCE_SIZE:], _aad(name, index, final))
        except InvalidTag:
            raise BackupError(
                f"backup object {name} chunk {index} does not authenticate: it was altered, "
                "reordered or belongs to another backup",
                _CORRUPT_HINT,
            ) from None
        if final:
            if source.read(1):
                raise BackupError(f"backup object {name} has data after its last chunk", _CORRUPT_HINT)
            return
        index += 1
