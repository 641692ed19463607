"""Chunked AES-256-GCM of backups, the pipeline's checksums, and the backup key's sources."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import pytest

from shipyard.drivers.data.backup_crypto import (
    ENV_VAR,
    HEADER_SIZE,
    BackupKey,
    decrypt_stream,
    encrypt_stream,
    load_backup_key,
)
from shipyard.drivers.data.backup_pipeline import fetch_file, store_file
from shipyard.drivers.data.backup_storage import LocalFolderStorage
from shipyard.errors import BackupError

KEY = BackupKey(b"k" * 32, "test")
OTHER = BackupKey(b"o" * 32, "other")


def sealed(chunks: list[bytes], name: str = "dev/b-1/db", key: BackupKey = KEY) -> bytes:
    return b"".join(encrypt_stream(key, name, chunks))


def frames(blob: bytes) -> tuple[bytes, list[bytes]]:
    """Header and the raw chunk frames of an encrypted stream."""
    header, rest, out = blob[:HEADER_SIZE], blob[HEADER_SIZE:], []
    while rest:
        length = int.from_bytes(rest[1:5], "big")
        size = 5 + 12 + length
        out.append(rest[:size])
        rest = rest[size:]
    return header, out


def opened(blob: bytes, name: str = "dev/b-1/db", key: BackupKey = KEY) -> bytes:
    return b"".join(decrypt_stream(key, name, io.BytesIO(blob)))


def test_round_trip_of_many_chunks_and_of_none() -> None:
    parts = [os.urandom(1000) for _ in range(5)]
    assert opened(sealed(parts)) == b"".join(parts)
    assert opened(sealed([])) == b""


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda h, f: h + b"".join(f[:-1]), "truncated after chunk 2"),  # last chunk dropped
        (lambda h, f: h + f[1] + f[0] + f[2], "does not authenticate"),  # reordered
        (lambda h, f: h + b"".join(f) + f[2], "data after its last chunk"),  # appended
        (lambda h, f: h + f[0] + f[1][:-3], "truncated in chunk 1"),  # cut inside a chunk
        (
            lambda h, f: h + f[0] + bytes([f[1][0]]) + f[1][1:20] + bytes([f[1][20] ^ 1]) + f[1][21:] + f[2],
            "chunk 1 does not authenticate",
        ),  # one bit flipped
        (lambda h, f: b"XXXX" + h[4:] + b"".join(f), "not a Shipyard backup"),
    ],
)
def test_damage_is_detected(damage: object, message: str) -> None:
    header, parts = frames(sealed([b"a" * 100, b"b" * 100, b"c" * 100]))
    assert len(parts) == 3
    with pytest.raises(BackupError) as info:
        opened(damage(header, parts))  # type: ignore[operator]
    assert message in info.value.message


def test_a_chunk_is_bound_to_its_object() -> None:
    blob = sealed([b"secret rows"], name="prod/b-1/db")
    with pytest.raises(BackupError, match="does not authenticate"):
        opened(blob, name="staging/b-1/db")


def test_wrong_key_is_named_as_such() -> None:
    with pytest.raises(BackupError) as info:
        opened(sealed([b"x"]), key=OTHER)
    assert "another backup key" in info.value.message and ENV_VAR in info.value.hint
    assert "kkkk" not in info.value.message


def test_key_from_env_or_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "backup.key"
    first = load_backup_key(path, environ={})
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_backup_key(path, environ={}) == first  # created once, then read
    given = base64.b64encode(b"e" * 32).decode()
    assert load_backup_key(path, environ={ENV_VAR: given}).key == b"e" * 32
    path.chmod(0o644)
    with pytest.raises(BackupError, match="readable by others"):
        load_backup_key(path, environ={})
    with pytest.raises(BackupError) as info:
        load_backup_key(path, environ={ENV_VAR: "c2hvcnQ="})
    assert ENV_VAR in info.value.message and "c2hvcnQ" not in info.value.message
    assert repr(first).count("key=") == 0  # the key never prints


def test_pipeline_stores_compressed_encrypted_and_verifies(tmp_path: Path) -> None:
    source = tmp_path / "db"
    source.write_bytes(b"row " * 500_000 + os.urandom(3_000_000))
    storage = LocalFolderStorage(tmp_path / "store")
    entry = store_file(storage, KEY, source, "dev/b-1/db")
    assert entry.plain_bytes == source.stat().st_size
    assert entry.stored_bytes < entry.plain_bytes  # the repeated rows compressed
    assert b"row row" not in (tmp_path / "store" / "dev" / "b-1" / "db").read_bytes()
    fetch_file(storage, KEY, entry, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == source.read_bytes()

    # a manifest that does not match what is stored: refused, and nothing is written
    wrong = type(entry)(**{**entry.__dict__, "plain_sha256": "0" * 64})
    with pytest.raises(BackupError, match="checksum mismatch"):
        fetch_file(storage, KEY, wrong, tmp_path / "never")
    assert not (tmp_path / "never").exists()
    assert not list(tmp_path.glob(".never*"))


def test_pipeline_cuts_large_compressor_output_into_chunks(tmp_path: Path) -> None:
    # multi-threaded zstd hands out many MiB at once: every stored chunk stays within bounds
    source = tmp_path / "db"
    with open(source, "wb") as fh:
        for _ in range(40):
            fh.write(os.urandom(1024 * 1024))
    storage = LocalFolderStorage(tmp_path / "store")
    entry = store_file(storage, KEY, source, "dev/b-1/db", level=1)
    blob = (tmp_path / "store" / "dev" / "b-1" / "db").read_bytes()
    _, parts = frames(blob)
    assert len(parts) > 40 and max(len(p) for p in parts) <= 1024 * 1024 + 5 + 12 + 16
    fetch_file(storage, KEY, entry, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == source.read_bytes()
