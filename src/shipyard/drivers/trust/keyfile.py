"""Where the vault's master key comes from, and how a new one is written.

Order: the ``SHIPYARD_MASTER_KEY`` environment variable (base64 of 32 bytes) when it is set,
else the key file the caller names (``<home>/master.key``), created on first use when asked.
A key file must be readable by its owner only (0600); a malformed key is refused, naming its
source (the variable's name or the file's path) and never its content.

Rotation has to survive a crash at any line, and the new key must be on disk before any data
key is re-wrapped with it, so it goes through a pending file:

1. ``write_pending_key(path, new)`` writes ``<path>.next`` (0600, fsynced);
2. the vault service re-wraps every data key with the new key in one transaction;
3. ``promote_pending_key(path)`` renames ``<path>.next`` over ``<path>``.

After a crash between 2 and 3 the store is sealed with the key in ``<path>.next``, which
``load_pending_key`` reads so the service can finish the promotion.

Called by the composition root (``runtime.py``) for the vault service in the engine, and by
the ``shipyard secrets`` commands that rotate the key.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shipyard.drivers.files import write_atomic
from shipyard.errors import VaultError

ENV_VAR = "SHIPYARD_MASTER_KEY"
KEY_SIZE = 32
KEY_FILE_MODE = 0o600
PENDING_SUFFIX = ".next"


@dataclass(frozen=True)
class MasterKey:
    """The key and where it came from (``SHIPYARD_MASTER_KEY`` or a file's path)."""

    key: bytes = field(repr=False)
    source: str


def generate_master_key() -> bytes:
    """32 random bytes from the operating system."""
    return secrets.token_bytes(KEY_SIZE)


def encode_master_key(key: bytes) -> str:
    """The text form of a key, as ``SHIPYARD_MASTER_KEY`` and key files hold it."""
    return base64.b64encode(key).decode()


def load_master_key(
    path: Path, *, create: bool = False, environ: Mapping[str, str] | None = None
) -> MasterKey:
    """The master key from ``SHIPYARD_MASTER_KEY`` if set, else from the key file at ``path``."""
    env = os.environ if environ is None else environ
    if ENV_VAR in env:
        return MasterKey(_decode(env[ENV_VAR], f"the {ENV_VAR} environment variable"), ENV_VAR)
    if create and not path.exists():
        _create_key_file(path)
    return MasterKey(read_key_file(path), str(path))


def read_key_file(path: Path) -> bytes:
    """The key in ``path``, refused if missing, open to group or others, or malformed."""
    try:
        _check_private(path, path.stat())
        raw = path.read_bytes()
    except FileNotFoundError:
        raise VaultError(
            f"the master key file {path} does not exist",
            f"Restore it from your backup, or set {ENV_VAR} to the base64 master key.",
        ) from None
    except OSError as err:
        raise VaultError(
            f"the master key file {path} cannot be read ({type(err).__name__})",
            "Check that the Shipyard user can read it.",
        ) from None
    return _decode(raw, f"the key file {path}")


def write_key_file(path: Path, key: bytes) -> None:
    """Write a new key file (0600, fsynced); refuses to replace an existing one."""
    _check_size(key)
    if path.exists():
        raise VaultError(
            f"the master key file {path} already exists",
            "Rotate the key (pending file, re-wrap, promote) instead of overwriting it.",
        )
    write_atomic(path, encode_master_key(key) + "\n", mode=KEY_FILE_MODE)


def pending_key_path(path: Path) -> Path:
    """Where the next master key waits during a rotation: ``<path>.next``."""
    return path.with_name(path.name + PENDING_SUFFIX)


def write_pending_key(path: Path, key: bytes) -> Path:
    """Step 1 of a rotation: the new key on disk before anything is sealed with it."""
    _check_size(key)
    pending = pending_key_path(path)
    write_atomic(pending, encode_master_key(key) + "\n", mode=KEY_FILE_MODE)
    return pending


def load_pending_key(path: Path) -> MasterKey | None:
    """The key of an unfinished rotation, or None when no rotation is under way."""
    pending = pending_key_path(path)
    if not pending.exists():
        return None
    return MasterKey(read_key_file(pending), str(pending))


def promote_pending_key(path: Path) -> None:
    """Step 3 of a rotation: the pending key replaces the key file, atomically."""
    pending = pending_key_path(path)
    read_key_file(pending)
    os.replace(pending, path)
    _fsync_dir(path.parent)


def _create_key_file(path: Path) -> None:
    """A new key at ``path``, unless another process created one first (then that one wins).

    The key is written whole to a staging file, then hard-linked into place: a link never
    replaces an existing file, so two processes starting together cannot each keep a different
    key in memory while only one of them is on disk.
    """
    staging = path.with_name(f".{path.name}.{secrets.token_hex(4)}.new")
    write_atomic(staging, encode_master_key(generate_master_key()) + "\n", mode=KEY_FILE_MODE)
    try:
        os.link(staging, path)
    except FileExistsError:
        pass
    finally:
        staging.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _check_private(path: Path, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise VaultError(
            f"the master key file {path} is not a regular file", "Point Shipyard at the key file."
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise VaultError(
            f"the master key file {path} is readable or writable by group or others (mode {mode:04o})",
            f"Run: chmod 600 {path}",
        )


def _decode(text: str | bytes, source: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise VaultError(
            f"{source} is not valid base64",
            "A master key is 32 random bytes, base64-encoded (44 characters).",
        ) from None
    if len(key) != KEY_SIZE:
        raise VaultError(
            f"{source} holds {len(key)} bytes, a master key has {KEY_SIZE}",
            "A master key is 32 random bytes, base64-encoded (44 characters).",
        )
    return key


def _check_size(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise VaultError(f"a master key has {KEY_SIZE} bytes, got {len(key)}", "Use generate_master_key().")


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
