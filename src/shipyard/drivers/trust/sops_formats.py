"""The three file formats of sops (YAML, JSON, dotenv) read into one ordered tree, typed as sops
types them.

sops hashes each value's text into the file's MAC, so a value must come out with the type
sops' Go stores gave it: YAML plain scalars by the YAML 1.2 rules of yaml.v3 (``yes`` is a
string, ``0x1F`` an int, a leading ``0`` is octal), JSON numbers as float64, dotenv values as
strings with ``\\n`` escapes. Mappings keep their order and repeated keys (``Branch``), and
the ``sops`` metadata is split off as plain dicts. YAML aliases are expanded within bounds
of size and depth. Called by ``drivers/trust/sops.py``, which decrypts and checks the tree.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import yaml

from shipyard.errors import VaultError

FORMATS = ("yaml", "json", "dotenv")
ALTERED = "Take the file from a trusted copy (version control), or re-encrypt it with sops."


@dataclass
class Branch:
    """A mapping as sops keeps it: ordered (the MAC depends on the order), keys may repeat."""

    items: list[tuple[str, Node]] = field(default_factory=list)


Node: TypeAlias = "str | int | float | bool | bytes | Branch | list[Node] | None"

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
_INT64 = range(-(2**63), 2**63)
_MAX_DEPTH = 64
_MAX_NODES = 100_000
_MAX_LIST_INDEX = 1_000


# the three formats --------------------------------------------------------------------


def format_of(path: Path) -> str:
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
        raise VaultError(f"{source}: the sops metadata is not a mapping", ALTERED)
    return rest, plain


def load_json(text: str, source: str) -> tuple[Branch, Mapping[str, Any]]:
    def refuse(constant: str) -> float:
        raise ValueError(f"{constant} is not JSON")

    try:
        data = json.loads(text, object_pairs_hook=Branch, parse_int=float, parse_constant=refuse)
    except ValueError as err:
        raise VaultError(f"{source}: not valid JSON ({err})", "Check the file.") from None
    return _split_metadata(data, source)


def load_dotenv(text: str, source: str) -> tuple[Branch, Mapping[str, Any]]:
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
        raise VaultError(f"{source}: the sops_ lines do not form sops metadata", ALTERED) from None
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


def load_yaml(text: str, source: str) -> tuple[Branch, Mapping[str, Any]]:
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
