"""The age half of SOPS imports: our age identities, and the data key one of them opens.

``read_age_identities`` finds identities where sops looks for them (``SOPS_AGE_KEY``,
``SOPS_AGE_KEY_FILE``, ``$XDG_CONFIG_HOME/sops/age/keys.txt``) or in a given key file;
``open_data_key`` decrypts a file's data key with one (pyrage, the reference age format).
Called by ``drivers/trust/sops.py``, which the CLI calls for ``shipyard secrets import``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyrage

from shipyard.drivers.trust.sops_formats import ALTERED
from shipyard.errors import VaultError

AGE_KEY_ENV = "SOPS_AGE_KEY"
AGE_KEY_FILE_ENV = "SOPS_AGE_KEY_FILE"


@dataclass(frozen=True)
class AgeIdentity:
    """One age X25519 identity (``AGE-SECRET-KEY-1...``) and its public recipient."""

    recipient: str
    identity: Any = field(repr=False)


def read_age_identities(
    key_file: Path | None = None, environ: Mapping[str, str] | None = None
) -> list[AgeIdentity]:
    """Identities from ``key_file``, else where sops looks: ``SOPS_AGE_KEY``,
    ``SOPS_AGE_KEY_FILE`` and ``$XDG_CONFIG_HOME/sops/age/keys.txt`` (``~/.config/...``)."""
    env = os.environ if environ is None else environ
    if key_file is not None:
        sources = [(str(key_file), _read_identity_file(key_file))]
    else:
        sources = _default_identity_sources(env)
    identities = [identity for name, text in sources for identity in _parse_identities(text, name)]
    if not identities:
        looked = ", ".join(name for name, _ in sources) or f"{AGE_KEY_ENV}, {AGE_KEY_FILE_ENV}"
        raise VaultError(
            f"no age identity found (looked in: {looked})",
            f"Set {AGE_KEY_FILE_ENV} to your age key file, or pass the key file.",
        )
    return identities


def _default_identity_sources(env: Mapping[str, str]) -> list[tuple[str, str]]:
    sources = []
    if AGE_KEY_ENV in env:
        sources.append((AGE_KEY_ENV, env[AGE_KEY_ENV]))
    if AGE_KEY_FILE_ENV in env:
        sources.append((env[AGE_KEY_FILE_ENV], _read_identity_file(Path(env[AGE_KEY_FILE_ENV]))))
    config = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    default = Path(config) / "sops" / "age" / "keys.txt"
    if default.is_file():
        sources.append((str(default), _read_identity_file(default)))
    return sources


def _read_identity_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise VaultError(
            f"cannot read the age key file {path} ({type(err).__name__})", "Check the path."
        ) from None


def _parse_identities(text: str, source: str) -> list[AgeIdentity]:
    """One identity per line; blank lines and ``#`` comments are skipped, as age does."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not line.startswith("AGE-SECRET-KEY-1"):
            raise VaultError(
                f"{source}:{number}: not an age X25519 identity (plugin and SSH keys are not supported)",
                "An age key file holds AGE-SECRET-KEY-1... lines, as age-keygen writes them.",
            )
        try:
            identity = pyrage.x25519.Identity.from_str(line)
        except pyrage.IdentityError:
            raise VaultError(f"{source}:{number}: malformed age identity", "Check the key file.") from None
        found.append(AgeIdentity(str(identity.to_public()), identity))
    return found


def open_data_key(enc: str, identity: AgeIdentity, source: str) -> bytes:
    """The data key sops encrypted for ``identity`` (age, ASCII-armored): 32 bytes."""
    try:
        key: bytes = pyrage.decrypt(enc.encode(), [identity.identity])
    except pyrage.DecryptError:
        raise VaultError(
            f"{source}: the data key encrypted for {identity.recipient} does not decrypt", ALTERED
        ) from None
    if len(key) != 32:
        raise VaultError(f"{source}: the data key has {len(key)} bytes, not 32", ALTERED)
    return key
