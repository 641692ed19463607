"""Every backup file's way to storage and back: read, hash, zstd, AES-GCM, hash, store.

``store_file`` streams a local file into one storage object, 1 MiB at a time, and returns
its checksums: SHA-256 of the plaintext and of the stored bytes (the manifest keeps both).
``fetch_file`` does the reverse into a local file and verifies both checksums on the way,
so a damaged, truncated or substituted object never becomes a database. Engine-neutral:
SQLite snapshots use it now, PostgreSQL base backups and WAL segments will too. Called by
``engine/data/backups.py``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import zstandard

from shipyard.drivers.data.backup_crypto import BackupKey, Reader, decrypt_stream, encrypt_stream
from shipyard.drivers.data.backup_storage import BackupStorage
from shipyard.errors import BackupError

CHUNK = 1024 * 1024
_HINT = "this backup is damaged: restore an older one (`shipyard backup list`)"


@dataclass(frozen=True)
class StoredFile:
    """One backup object, as the manifest records it."""

    object: str
    plain_bytes: int
    plain_sha256: str
    stored_bytes: int
    stored_sha256: str


def store_file(storage: BackupStorage, key: BackupKey, source: Path, name: str, level: int = 3) -> StoredFile:
    with open(source, "rb") as fh:
        return store_stream(storage, key, fh, name, level)


def store_stream(
    storage: BackupStorage, key: BackupKey, source: Reader, name: str, level: int = 3
) -> StoredFile:
    """Like ``store_file`` from a readable stream (a program's stdout: a PostgreSQL base backup)."""
    plain = hashlib.sha256()
    stored = hashlib.sha256()
    counted = [0]

    def read() -> Iterator[bytes]:
        while block := source.read(CHUNK):
            plain.update(block)
            counted[0] += len(block)
            yield block

    def hashed(chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            stored.update(chunk)
            yield chunk

    compressed = _compress(read(), level)
    size = storage.put(name, hashed(encrypt_stream(key, name, compressed)))
    return StoredFile(name, counted[0], plain.hexdigest(), size, stored.hexdigest())


def _compress(chunks: Iterable[bytes], level: int) -> Iterator[bytes]:
    """zstd of ``chunks``, re-cut into pieces of at most ``CHUNK`` bytes (multi-threaded zstd
    hands out whole jobs of many MiB at once, and the flush the rest)."""
    compressor = zstandard.ZstdCompressor(level=level, threads=-1 if level < 10 else 0).compressobj()
    for chunk in chunks:
        yield from _cut(compressor.compress(chunk))
    yield from _cut(compressor.flush())


def _cut(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]


def fetch_file(storage: BackupStorage, key: BackupKey, entry: StoredFile, target: Path) -> None:
    """Write object ``entry`` to ``target`` (temp file, fsync, rename), verifying checksums."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.restoring")
    try:
        with open(tmp, "wb") as out:
            fetch_stream(storage, key, entry, out.write)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def fetch_stream(
    storage: BackupStorage, key: BackupKey, entry: StoredFile, write: Callable[[bytes], object]
) -> None:
    """Hand object ``entry``'s plaintext to ``write`` piece by piece; the checksums are checked
    at the end, so the caller must not use what it wrote before this returns."""
    stored = hashlib.sha256()
    plain = hashlib.sha256()
    with storage.get(entry.object) as raw:
        source = _HashingReader(raw, stored)
        decompressor = zstandard.ZstdDecompressor().decompressobj()
        for chunk in decrypt_stream(key, entry.object, source):
            try:
                data = decompressor.decompress(chunk)
            except zstandard.ZstdError:
                raise BackupError(f"backup object {entry.object} does not decompress", _HINT) from None
            plain.update(data)
            write(data)
    _check(entry.object, "stored bytes", stored.hexdigest(), entry.stored_sha256)
    _check(entry.object, "restored data", plain.hexdigest(), entry.plain_sha256)


def _check(name: str, what: str, got: str, want: str) -> None:
    if not hmac.compare_digest(got, want):
        raise BackupError(
            f"checksum mismatch in {name}: the SHA-256 of its {what} is {got[:16]}..., "
            f"the manifest says {want[:16]}...",
            _HINT,
        )


class _HashingReader:
    """A read-only file wrapper that hashes what is read through it."""

    def __init__(self, raw: Reader, digest: hashlib._Hash) -> None:
        self._raw = raw
        self._digest = digest

    def read(self, size: int = -1, /) -> bytes:
        data = self._raw.read(size)
        self._digest.update(data)
        return data


def store_bytes(storage: BackupStorage, key: BackupKey, data: bytes, name: str, level: int = 3) -> int:
    """A small object (a WAL segment) compressed and encrypted in one piece; its stored size."""
    packed = zstandard.ZstdCompressor(level=level).compress(data)
    chunks = [packed[i : i + CHUNK] for i in range(0, len(packed), CHUNK)] or [b""]
    return storage.put(name, encrypt_stream(key, name, chunks))


def fetch_bytes(storage: BackupStorage, key: BackupKey, name: str) -> bytes:
    """The plaintext of an object written by ``store_bytes`` (authenticated chunk by chunk)."""
    with storage.get(name) as raw:
        packed = b"".join(decrypt_stream(key, name, raw))
    try:
        return zstandard.ZstdDecompressor().decompress(packed, max_output_size=1 << 31)
    except zstandard.ZstdError:
        raise BackupError(f"backup object {name} does not decompress", _HINT) from None
