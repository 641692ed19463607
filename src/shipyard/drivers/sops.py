"""Import secrets from SOPS-encrypted YAML, JSON and dotenv files, with age keys.

Called by the vault service in the engine for ``shipyard secrets import``. It does what
``sops --decrypt`` does, as sops 3.x writes files (getsops/sops ``sops.go``, ``aes/cipher.go``,
``stores/``, ``age/keysource.go``):

1. read the ``sops`` metadata (``sops_*`` lines in a dotenv file);
2. find an ``age`` entry whose recipient is the public key of one of our identities, and
   decrypt the data key (age, ASCII-armored) with it;
3. walk the document in order; a value is encrypted unless the file's rule says otherwise
   (``unencrypted_suffix``, default ``_unencrypted``; ``encrypted_suffix``;
   ``unencrypted_regex``; ``encrypted_regex``). ``ENC[AES256_GCM,data:..,iv:..,tag:..,type:..]``
   is AES-256-GCM with the key path joined by ``:`` plus a trailing ``:`` as associated data
   (items of a list keep their list's path);
4. verify the MAC: SHA-512 over every value's plaintext in document order (only the
   encrypted ones when ``mac_only_encrypted``, after a fixed prefix), in uppercase hex,
   against ``sops.mac`` decrypted with ``lastmodified`` (RFC 3339) as associated data. A file
   whose MAC does not match is refused: someone changed it without the data key.

Scalars are typed as sops' Go stores type them, since the MAC hashes their text: YAML plain
scalars by the YAML 1.2 rules of yaml.v3 (``yes`` is a string, ``0x1F`` an int), JSON numbers
as float64, booleans as ``True``/``False``.

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
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeAlias

import pyrage
import yaml
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shipyard.core.dotenv import KEY
from shipyard.errors import VaultError

AGE_KEY_ENV = "SOPS_AGE_KEY"
AGE_KEY_FILE_ENV = "SOPS_AGE_KEY_FILE"
DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted"
# sha256(b"sops"): sops starts the MAC with it when only encrypted values are hashed
MAC_ONLY_ENCRYPTED_PREFIX = hashlib.sha256(b"sops").digest()
FORMATS = ("yaml", "json", "dotenv")

_ENC = re.compile(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]")
_RULES = ("unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex")
_GO_INT = re.compile(r"([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_YAML_STR = "tag:yaml.org,2002:str"
_YAML_TYPED = {f"tag:yaml.org,2002:{kind}" for kind in ("int", "float", "bool", "null")}
_YAML_CONSTANTS: dict[str, Node] = {
    **dict.fromkeys(("true", "True", "TRUE"), True),
    **dict.fromkeys(("false", "False", "FALSE"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
_GO_BOOLS = {**dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True)}
_GO_BOOLS |= dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False)
_INT64 = range(-(2**63), 2**63)
_MAX_DEPTH = 64
_MAX_NODES = 100_000
_MAX_LIST_INDEX = 1_000
_ALTERED = "Take the file from a trusted copy (version control), or re-encrypt it with sops."


@dataclass
class Branch:
    """A mapping as sops keeps it: ordered (the MAC depends on the order), keys may repeat."""

    items: list[tuple[str, Node]] = field(default_factory=list)


Node: TypeAlias = "str | int | float | bool | bytes | Branch | list[Node] | None"


@dataclass(frozen=True)
class AgeIdentity:
    """One age X25519 identity (``AGE-SECRET-KEY-1...``) and its public recipient."""

    recipient: str
    identity: Any = field(repr=False)


@dataclass(frozen=True)
class _Metadata:
    age: list[tuple[str, str]]
    lastmodified: str
    mac: str
    rule: tuple[str, str]
    mac_only_encrypted: bool


def import_sops_file(path: Path, identities: Sequence[AgeIdentity], fmt: str | None = None) -> dict[str, str]:
    """The secrets in a sops file; the format comes from the name unless ``fmt`` is given."""
    fmt = fmt or _format_of(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise VaultError(f"cannot read {path} ({type(err).__name__})", "Check the path.") from None
    return decrypt_sops(text, fmt, identities, str(path))


def decrypt_sops(text: str, fmt: str, identities: Sequence[AgeIdentity], source: str) -> dict[str, str]:
    """Decrypt and verify a sops document given as text; ``source`` names it in errors."""
    loaders: dict[str, Callable[[str, str], tuple[Branch, Mapping[str, Any]]]] = {
        "yaml": _load_yaml,
        "json": _load_json,
        "dotenv": _load_dotenv,
    }
    if fmt not in loaders:
        raise VaultError(f"unknown sops file format {fmt!r}", f"Use one of: {', '.join(FORMATS)}.")
    data, raw_metadata = loaders[fmt](text, source)
    metadata = _parse_metadata(raw_metadata, source)
    key = _data_key(metadata, identities, source)
    plain, mac = _decrypt_tree(data, key, metadata, source)
    _verify_mac(mac, key, metadata, source)
    return _flatten(plain, source)


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


# age identities and the data key --------------------------------------------------------------


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


def _data_key(metadata: _Metadata, identities: Sequence[AgeIdentity], source: str) -> bytes:
    if not metadata.age:
        raise VaultError(
            f"{source} is not encrypted for any age recipient",
            "Add an age recipient to it with sops (sops updatekeys), then import it.",
        )
    ours = {identity.recipient: identity for identity in identities}
    for recipient, enc in metadata.age:
        if recipient in ours:
            return _open_data_key(enc, ours[recipient], source)
    theirs = ", ".join(recipient for recipient, _ in metadata.age)
    raise VaultError(
        f"none of your age identities can decrypt {source}: it is encrypted for {theirs}; "
        f"yours are {', '.join(ours) or 'none'}",
        "Use the age key file of one of those recipients, or have your recipient added (sops updatekeys).",
    )


def _open_data_key(enc: str, identity: AgeIdentity, source: str) -> bytes:
    try:
        key: bytes = pyrage.decrypt(enc.encode(), [identity.identity])
    except pyrage.DecryptError:
        raise VaultError(
            f"{source}: the data key encrypted for {identity.recipient} does not decrypt", _ALTERED
        ) from None
    if len(key) != 32:
        raise VaultError(f"{source}: the data key has {len(key)} bytes, not 32", _ALTERED)
    return key


# loading the three formats --------------------------------------------------------------------


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if suffix == ".json":
        return "json"
    if suffix == ".env" or path.name == ".env":
        return "dotenv"
    raise VaultError(
        f"cannot tell the format of {path} from its name",
        f"Name it .yaml, .json or .env, or give the format ({', '.join(FORMATS)}).",
    )


def _split_metadata(data: Node, source: str) -> tuple[Branch, Mapping[str, Any]]:
    if not isinstance(data, Branch):
        raise VaultError(f"{source}: the document is not a mapping", "sops files hold a mapping at the top.")
    found = [value for key, value in data.items if key == "sops"]
    if not found:
        raise VaultError(
            f"{source} is not encrypted with sops (no sops metadata)", "Encrypt it with sops first."
        )
    rest = Branch([(key, value) for key, value in data.items if key != "sops"])
    plain = _plain(found[0])
    if not isinstance(plain, dict):
        raise VaultError(f"{source}: the sops metadata is not a mapping", _ALTERED)
    return rest, plain


def _load_json(text: str, source: str) -> tuple[Branch, Mapping[str, Any]]:
    def refuse(constant: str) -> float:
        raise ValueError(f"{constant} is not JSON")

    try:
        data = json.loads(text, object_pairs_hook=Branch, parse_int=float, parse_constant=refuse)
    except ValueError as err:
        raise VaultError(f"{source}: not valid JSON ({err})", "Check the file.") from None
    return _split_metadata(data, source)


def _load_dotenv(text: str, source: str) -> tuple[Branch, Mapping[str, Any]]:
    """sops' own dotenv store: ``KEY=value`` per line, ``\\n`` escapes, ``sops_*`` metadata."""
    data, flat = Branch(), {}
    for number, line in enumerate(text.split("\n"), 1):
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise VaultError(f"{source}:{number}: expected KEY=value", "Check the file.")
        value = value.replace("\\n", "\n")
        if key.startswith("sops_"):
            flat[key.removeprefix("sops_")] = value
        else:
            data.items.append((key, value))
    if not flat:
        raise VaultError(
            f"{source} is not encrypted with sops (no sops_ lines)", "Encrypt it with sops first."
        )
    try:
        metadata = _unflatten(flat)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        raise VaultError(f"{source}: the sops_ lines do not form sops metadata", _ALTERED) from None
    if metadata.get("mac_only_encrypted") == "true":
        metadata["mac_only_encrypted"] = True
    return data, metadata


def _unflatten(flat: Mapping[str, str]) -> dict[str, Any]:
    """sops' flattened metadata (``age__list_0__map_recipient``) back into mappings and lists."""
    root: dict[str, Any] = {}
    for path, value in flat.items():
        tokens: list[str | int] = []
        for part in re.split(r"(__map_|__list_)", path):
            if part in ("__map_", "__list_"):
                tokens.append(part)
            elif tokens and tokens[-1] == "__list_":
                if not part.isdigit() or int(part) > _MAX_LIST_INDEX:
                    raise ValueError(path)
                tokens[-1] = int(part)
            elif tokens and tokens[-1] == "__map_":
                tokens[-1] = part
            else:
                tokens.append(part)
        node: Any = root
        for token, following in zip(tokens, [*tokens[1:], None], strict=True):
            default: Any = value if following is None else [] if isinstance(following, int) else {}
            if isinstance(node, list):
                node.extend([None] * (int(token) + 1 - len(node)))
                node[int(token)] = node[int(token)] or default
            else:
                node.setdefault(token, default)
            node = node[token]
    return root


def _load_yaml(text: str, source: str) -> tuple[Branch, Mapping[str, Any]]:
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.BaseLoader))
    except yaml.MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else "?"
        raise VaultError(f"{source}:{line}: not valid YAML ({err.problem})", "Check the file.") from None
    except yaml.YAMLError:
        raise VaultError(f"{source}: not valid YAML", "Check the file.") from None
    if len(documents) != 1:
        raise VaultError(
            f"{source} holds {len(documents)} YAML documents; Shipyard imports files with exactly one",
            "Split it into one file per document.",
        )
    return _split_metadata(_YamlTree(source).node(documents[0], 0), source)


class _YamlTree:
    """YAML nodes to a tree. Aliases are expanded, so size and depth are bounded: a few
    nested aliases would otherwise expand to billions of nodes."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.budget = _MAX_NODES

    def node(self, node: yaml.Node, depth: int) -> Node:
        self.budget -= 1
        if depth > _MAX_DEPTH or self.budget < 0:
            raise VaultError(f"{self.source}: the document is too large or too deep", "Check its aliases.")
        if isinstance(node, yaml.MappingNode):
            branch = Branch()
            for key_node, value_node in node.value:
                key = self.node(key_node, depth + 1)
                if not isinstance(key, str):
                    raise VaultError(
                        f"{self.source}: a key ({key_node.value!r}) is not a string", "Quote it."
                    )
                branch.items.append((key, self.node(value_node, depth + 1)))
            return branch
        if isinstance(node, yaml.SequenceNode):
            return [self.node(item, depth + 1) for item in node.value]
        if isinstance(node, yaml.ScalarNode):
            return _yaml_scalar(node, self.source)
        raise VaultError(f"{self.source}: unexpected YAML node {type(node).__name__}", "Check the file.")


def _yaml_scalar(node: yaml.ScalarNode, source: str) -> Node:
    """A scalar typed as yaml.v3 types it when sops decodes it into ``interface{}``.

    ``BaseLoader`` resolves nothing: an untagged scalar arrives as ``str`` and its style says
    whether it was quoted (always a string) or plain (typed by its text).
    """
    text = str(node.value)
    if node.tag == _YAML_STR:
        return _yaml_plain(text, source) if node.style is None else text
    if node.tag in _YAML_TYPED:
        return _yaml_plain(text, source)
    raise VaultError(f"{source}: the YAML tag {node.tag} is not supported", "Remove the tag.")


def _yaml_plain(text: str, source: str) -> Node:
    if text in _YAML_CONSTANTS:
        return _YAML_CONSTANTS[text]
    if not text or text[0] not in "+-.0123456789":
        return text
    plain = text.replace("_", "")
    number = _go_int(plain)
    if number is not None:
        if number not in _INT64:
            raise VaultError(f"{source}: the integer {text} does not fit in 64 bits", "Quote it.")
        return number
    if _YAML_FLOAT.fullmatch(plain):
        return float(plain)
    return text


def _go_int(text: str) -> int | None:
    """Go's ``strconv.ParseInt(text, 0, 64)`` syntax: 0x, 0o, 0b and a leading 0 for octal."""
    match = _GO_INT.fullmatch(text)
    if not match:
        return None
    sign, digits = match.groups()
    prefix = digits[:2].lower()
    bases = {"0x": 16, "0o": 8, "0b": 2}
    if prefix in bases:
        value = int(digits[2:], bases[prefix])
    elif len(digits) > 1 and digits[0] == "0":
        value = int(digits[1:], 8)
    else:
        value = int(digits)
    return -value if sign == "-" else value


def _plain(node: Node) -> Any:
    """A tree as plain dicts and lists (for the metadata, whose keys are unique)."""
    if isinstance(node, Branch):
        return {key: _plain(value) for key, value in node.items}
    if isinstance(node, list):
        return [_plain(item) for item in node]
    return node


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
        raise VaultError(f"{source} sets more than one of {', '.join(_RULES)}", _ALTERED)
    mac, lastmodified = raw.get("mac"), raw.get("lastmodified")
    if not isinstance(mac, str) or not mac or not isinstance(lastmodified, str):
        raise VaultError(f"{source} has no MAC: sops would refuse it too", _ALTERED)
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
                raise VaultError(f"{source}: {_dotted(path)} should be encrypted but is not", _ALTERED)
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
        raise VaultError(f"{where} is not a sops-encrypted value", _ALTERED)
    try:
        data, iv, tag = (base64.b64decode(part, validate=True) for part in match.groups()[:3])
        plain = AESGCM(key).decrypt(iv, data + tag, aad.encode())
    except (binascii.Error, ValueError, InvalidTag):
        raise VaultError(f"{where} does not decrypt: the file was altered", _ALTERED) from None
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
    raise VaultError(f"{where}: a value of type {kind!r} that sops would not decode", _ALTERED)


def _verify_mac(computed: str, key: bytes, metadata: _Metadata, source: str) -> None:
    stamp = _rfc3339(metadata.lastmodified, source)
    stored = _decrypt_value(metadata.mac, key, stamp, f"{source}: the MAC")
    if not isinstance(stored, str) or not hmac.compare_digest(stored.encode(), computed.encode()):
        raise VaultError(
            f"{source}: the MAC does not match: the file was changed after sops encrypted it", _ALTERED
        )


def _rfc3339(stamp: str, source: str) -> str:
    """``lastmodified`` as Go's ``time.Format(time.RFC3339)`` writes it back."""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        moment = None
    offset = moment.utcoffset() if moment else None
    if moment is None or offset is None:
        raise VaultError(f"{source}: lastmodified is not an RFC 3339 time", _ALTERED)
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
