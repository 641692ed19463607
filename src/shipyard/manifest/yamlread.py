"""YAML as shipyard.yaml must be: safe types, no key given twice, no absurd nesting.

PyYAML's ``safe_load`` keeps the last of two equal keys (a second ``production:`` block
silently replaces the first, approval and all) and recurses once per nesting level (900
levels end in a RecursionError). This reader refuses both with a ``ManifestError`` that names
the file, the key path and the lines. ``manifest.loader`` calls it; YAML syntax errors are
left to the caller (``yaml.YAMLError``).
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import MappingStartEvent, SequenceStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from shipyard.errors import ManifestError

MAX_DEPTH = 64


def read_yaml(text: str, origin: str) -> Any:
    """The document in ``text`` as Python data; ``origin`` names the file in errors."""
    loader = _Loader(text, origin)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_keys(node, "", origin, set())
        return loader.construct_document(node)
    finally:
        loader.dispose()


class _Loader(yaml.SafeLoader):
    """The safe loader, refusing a document nested deeper than ``MAX_DEPTH`` while it composes."""

    def __init__(self, text: str, origin: str) -> None:
        super().__init__(text)
        self.origin = origin
        self.depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        nests = self.check_event(MappingStartEvent, SequenceStartEvent)
        self.depth += nests
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise ManifestError(
                    f"{self.origin}:{mark.line + 1}: nested more than {MAX_DEPTH} levels deep",
                    f"shipyard.yaml needs only a few levels; keep it under the limit of {MAX_DEPTH}",
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= nests


def _check_keys(node: Node, path: str, origin: str, seen: set[int]) -> None:
    """Refuse a mapping that gives one key twice, anywhere under ``node``."""
    if id(node) in seen:  # an alias: already checked where its anchor is
        return
    seen.add(id(node))
    if isinstance(node, MappingNode):
        lines: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            where = _join(path, key)
            if isinstance(key, ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                line = key.start_mark.line + 1
                if (key.tag, key.value) in lines:
                    raise ManifestError(
                        f"{origin}: key {where} is given twice, on lines {lines[key.tag, key.value]} "
                        f"and {line}; YAML would keep only the last",
                        "merge the two into one (or delete the one you do not mean)",
                    )
                lines[key.tag, key.value] = line
            _check_keys(value, where, origin, seen)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            _check_keys(item, f"{path}[{i}]", origin, seen)


def _join(path: str, key: Node) -> str:
    name = str(key.value) if isinstance(key, ScalarNode) else "?"
    return f"{path}.{name}" if path else name
