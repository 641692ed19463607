"""Import secrets from SOPS-encrypted YAML, JSON and dotenv files, with age keys.

Called by the vault service in the engine for ``shipyard secrets import``. It does what
``sops --decrypt`` does, as sops 3.x writes files (getsops/sops ``sops.go``, ``aes/cipher.go``,
``stores/``, ``age/keysource.go``):

1. read the ``sops`` metadata (``sops_*`` lines in a dotenv file);
2. find an ``age`` entry whose recipient is the public key of one of our identities, and
   decrypt the data key (age, ASCII-armored) with it (``drivers/trust/sops_age.py``);
3. walk the document in order; a value is encrypted unless the file's rule says otherwise
   (``unencrypted_suffix``, default ``_unencrypted``; ``encrypted_suffix``;
   ``unencrypted_regex``; ``encrypted_regex``). ``ENC[AES256_GCM,data:..,iv:..,tag:..,type:..]``
   is AES-256-GCM with the key path joined by ``:`` plus a trailing ``:`` as associated data
   (items of a list keep their list's path);
4. verify the MAC: SHA-512 over every value's plaintext in document order (only the
   encrypted ones when ``mac_only_encrypted``, after a fixed prefix), in uppercase hex,
   against ``sops.mac`` decrypted with ``lastmodified`` (RFC 3339) as associated data. A file
   whose MAC does not match is refused: someone changed it without the data key.

Scalars are typed as sops' Go stores type them, since the MAC hashes their text
(``drivers/trust/sops_formats.py`` reads the three formats that way); booleans hash as
``True``/``False``.

What comes out is a flat ``name -> str``: top-level keys keep their name; nested mappings are
flattened by joining the path with ``_`` and upper-casing it (``database: {password: x}``
gives ``DATABASE_PASSWORD``). Lists, nulls, names that are not valid environment variable
names, and two paths giving one name are refused. Every value is imported, encrypted or
not, as ``sops --decrypt`` would show it; booleans as ``true``/``false``.

Not supported, and refused with a message saying so: multi-document YAML, Shamir key groups
(more than one group), the comment-based rules, non-age keys, age plugin identities.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shipyard.core.dotenv import KEY
from shipyard.drivers.trust.sops_age import AgeIdentity, open_data_key
from shipyard.drivers.trust.sops_age import read_age_identities as read_age_identities  # the CLI's entry
from shipyard.drivers.trust.sops_formats import (
    ALTERED,
    FORMATS,
    Branch,
    Node,
    format_of,
    load_dotenv,
    load_json,
    load_yaml,
)
from shipyard.errors import VaultError

DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted"
# sha256(b"sops"): sops starts the MAC with it when only encrypted values are hashed
MAC_ONLY_ENCRYPTED_PREFIX = hashlib.sha256(b"sops").digest()

_ENC = re.compile(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]")
_RULES = ("unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex")
_GO_BOOLS = {**dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True)}
_GO_BOOLS |= dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False)


@dataclass(frozen=True)
class _Metadata:
    age: list[tuple[str, str]]
    lastmodified: str
    mac: str
    rule: tuple[str, str]
    mac_only_encrypted: bool


def import_sops_file(path: Path, identities: Sequence[AgeIdentity], fmt: str | None = None) -> dict[str, str]:
    """The secrets in a sops file; the format comes from the name unless ``fmt`` is given."""
    fmt = fmt or format_of(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise VaultError(f"cannot read {path} ({type(err).__name__})", "Check the path.") from None
    return decrypt_sops(text, fmt, identities, str(path))


def decrypt_sops(text: str, fmt: str, identities: Sequence[AgeIdentity], source: str) -> dict[str, str]:
    """Decrypt and verify a sops document given as text; ``source`` names it in errors."""
    loaders: dict[str, Callable[[str, str], tuple[Branch, Mapping[str, Any]]]] = {
        "yaml": load_yaml,
        "json": load_json,
        "dotenv": load_dotenv,
    }
    if fmt not in loaders:
        raise VaultError(f"unknown sops file format {fmt!r}", f"Use one of: {', '.join(FORMATS)}.")
    data, raw_metadata = loaders[fmt](text, source)
    metadata = _parse_metadata(raw_metadata, source)
    key = _data_key(metadata, identities, source)
    plain, mac = _decrypt_tree(data, key, metadata, source)
    _verify_mac(mac, key, metadata, source)
    return _flatten(plain, source)


# the data key --------------------------------------------------------------


def _data_key(metadata: _Metadata, identities: Sequence[AgeIdentity], source: str) -> bytes:
    if not metadata.age:
        raise VaultError(
            f"{source} is not encrypted for any age recipient",
            "Add an age recipient to it with sops (sops updatekeys), then import it.",
        )
    ours = {identity.recipient: identity for identity in identities}
    for recipient, enc in metadata.age:
        if recipient in ours:
            return open_data_key(enc, ours[recipient], source)
    theirs = ", ".join(recipient for recipient, _ in metadata.age)
    raise VaultError(
        f"none of your age identities can decrypt {source}: it is encrypted for {theirs}; "
        f"yours are {', '.join(ours) or 'none'}",
        "Use the age key file of one of those recipients, or have your recipient added (sops updatekeys).",
    )


# metadata, decryption and the MAC -------------------------------------------------------------


def _parse_metadata(raw: Mapping[str, Any], source: str) -> _Metadata:
    for unsupported in ("unencrypted_comment_regex", "encrypted_comment_regex"):
        if raw.get(unsupported):
            raise VaultError(f"{source} uses {unsupported}, which Shipyard does not import", "Use sops -d.")
    groups = raw.get("key_groups") or []
    if len(groups) > 1:
        raise VaultError(
            f"{source} splits its data key over {len(groups)} key groups (Shamir): not supported",
            "Re-encrypt it with a single key group.",
        )
    holder = groups[0] if groups else raw
    age = [(str(e.get("recipient", "")), str(e.get("enc", ""))) for e in holder.get("age") or []]
    rules = [(name, str(raw[name])) for name in _RULES if raw.get(name)]
    if len(rules) > 1:
        raise VaultError(f"{source} sets more than one of {', '.join(_RULES)}", ALTERED)
    mac, lastmodified = raw.get("mac"), raw.get("lastmodified")
    if not isinstance(mac, str) or not mac or not isinstance(lastmodified, str):
        raise VaultError(f"{source} has no MAC: sops would refuse it too", ALTERED)
    rule = rules[0] if rules else ("unencrypted_suffix", DEFAULT_UNENCRYPTED_SUFFIX)
    only_encrypted = raw.get("mac_only_encrypted") is True
    return _Metadata(age, lastmodified, mac, rule, only_encrypted)


def _is_encrypted(path: list[str], rule: tuple[str, str]) -> bool:
    kind, value = rule
    if kind.endswith("suffix"):
        hit = any(part.endswith(value) for part in path)
    else:
        hit = any(re.search(value, part) for part in path)
    return hit if kind.startswith("encrypted") else not hit


def _decrypt_tree(data: Branch, key: bytes, metadata: _Metadata, source: str) -> tuple[Branch, str]:
    """The plaintext tree and the MAC sops would compute over it."""
    digest = hashlib.sha512()
    if metadata.mac_only_encrypted:
        digest.update(MAC_ONLY_ENCRYPTED_PREFIX)

    def leaf(value: Node, path: list[str]) -> Node:
        encrypted = _is_encrypted(path, metadata.rule)
        if encrypted:
            if not isinstance(value, str):
                raise VaultError(f"{source}: {_dotted(path)} should be encrypted but is not", ALTERED)
            value = _decrypt_value(value, key, ":".join(path) + ":", f"{source}: {_dotted(path)}")
        if encrypted or not metadata.mac_only_encrypted:
            digest.update(_go_bytes(value))
        return value

    def walk(node: Node, path: list[str]) -> Node:
        if isinstance(node, Branch):
            return Branch([(name, walk(value, [*path, name])) for name, value in node.items])
        if isinstance(node, list):
            return [walk(item, path) for item in node]
        return None if node is None else leaf(node, path)

    plain = walk(data, [])
    assert isinstance(plain, Branch)
    return plain, digest.hexdigest().upper()


def _decrypt_value(value: str, key: bytes, aad: str, where: str) -> Node:
    if value == "":
        return ""
    match = _ENC.match(value)
    if not match:
        raise VaultError(f"{where} is not a sops-encrypted value", ALTERED)
    try:
        data, iv, tag = (base64.b64decode(part, validate=True) for part in match.groups()[:3])
        plain = AESGCM(key).decrypt(iv, data + tag, aad.encode())
    except (binascii.Error, ValueError, InvalidTag):
        raise VaultError(f"{where} does not decrypt: the file was altered", ALTERED) from None
    return _typed(plain, match[4], where)


def _typed(plain: bytes, kind: str, where: str) -> Node:
    text = plain.decode("utf-8", errors="surrogateescape")
    try:
        if kind == "str":
            return plain.decode()
        if kind in ("int", "int64") and re.fullmatch(r"[-+]?[0-9]+", text):
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "bool" and text in _GO_BOOLS:
            return _GO_BOOLS[text]
        if kind == "bytes":
            return plain
    except ValueError:
        pass
    raise VaultError(f"{where}: a value of type {kind!r} that sops would not decode", ALTERED)


def _verify_mac(computed: str, key: bytes, metadata: _Metadata, source: str) -> None:
    stamp = _rfc3339(metadata.lastmodified, source)
    stored = _decrypt_value(metadata.mac, key, stamp, f"{source}: the MAC")
    if not isinstance(stored, str) or not hmac.compare_digest(stored.encode(), computed.encode()):
        raise VaultError(
            f"{source}: the MAC does not match: the file was changed after sops encrypted it", ALTERED
        )


def _rfc3339(stamp: str, source: str) -> str:
    """``lastmodified`` as Go's ``time.Format(time.RFC3339)`` writes it back."""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        moment = None
    offset = moment.utcoffset() if moment else None
    if moment is None or offset is None:
        raise VaultError(f"{source}: lastmodified is not an RFC 3339 time", ALTERED)
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if offset == timedelta(0):
        return base + "Z"
    sign, offset = ("-", -offset) if offset < timedelta(0) else ("+", offset)
    minutes = int(offset.total_seconds()) // 60
    return f"{base}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _go_bytes(value: Node) -> bytes:
    """sops' ``ToBytes``: the text the MAC hashes for a value."""
    if isinstance(value, bool):
        return b"True" if value else b"False"
    if isinstance(value, bytes):
        return value
    if isinstance(value, float):
        return _go_float(value).encode()
    return str(value).encode("utf-8", errors="surrogateescape")


def _go_float(value: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'f', -1, 64)``: shortest round-trip digits, no exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# the result -----------------------------------------------------------------------------------


def _flatten(data: Branch, source: str) -> dict[str, str]:
    found: dict[str, str] = {}
    origin: dict[str, str] = {}

    def visit(branch: Branch, path: list[str]) -> None:
        for key, value in branch.items:
            here = [*path, key]
            if isinstance(value, Branch):
                visit(value, here)
                continue
            name = "_".join(here).upper() if path else key
            _check_leaf(value, name, _dotted(here), source)
            if name in found:
                raise VaultError(
                    f"{source}: {origin[name]} and {_dotted(here)} would both be imported as {name}",
                    "Rename one of them.",
                )
            found[name], origin[name] = _text(value), _dotted(here)

    visit(data, [])
    return found


def _check_leaf(value: Node, name: str, where: str, source: str) -> None:
    if isinstance(value, list):
        raise VaultError(
            f"{source}: {where} is a list; only mappings of values can be imported", "Use a mapping."
        )
    if value is None:
        raise VaultError(f"{source}: {where} has no value (null)", "Give it a value or remove it.")
    if not KEY.fullmatch(name):
        raise VaultError(
            f"{source}: {where} cannot be imported as {name!r}: a secret name is letters, digits and _, "
            "not starting with a digit",
            "Rename the key.",
        )


def _text(value: Node) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _dotted(path: list[str]) -> str:
    return ".".join(path) or "(top)"
