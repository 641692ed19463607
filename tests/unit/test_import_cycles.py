"""No import circle between Shipyard's modules, counting every import the code declares.

The graph is read with ``ast`` from every ``import`` and ``from ... import`` under
src/shipyard, also those inside functions and under ``if TYPE_CHECKING:``: an import deferred
or hidden from the interpreter still ties two modules together, so a cycle through one is a
cycle of the design. A failure prints the cycle, module by module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "shipyard"

# Import edges (importer, imported) known to close a cycle, each with the branch of issue 15 that
# removes it. The lead empties this list as those branches merge; a listed edge that no longer
# exists fails `test_allowed_edges_still_exist`, so the list cannot outlive its reason.
ALLOWED: set[tuple[str, str]] = set()  # an edge (importer, imported) a cycle may use, with why


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


def imported(node: ast.AST, known: dict[str, Path]) -> Iterator[str]:
    """The Shipyard modules one import statement names (``from pkg import mod`` names ``pkg.mod``)."""
    if isinstance(node, ast.Import):
        yield from (a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
    elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == PACKAGE:
        for alias in node.names:
            sub = f"{node.module}.{alias.name}"
            yield sub if sub in known else node.module


def imports_in(text: str, known: dict[str, Path]) -> set[str]:
    """The Shipyard modules a module's ``text`` imports anywhere (functions, TYPE_CHECKING)."""
    found = {m for node in ast.walk(ast.parse(text)) for m in imported(node, known)}
    return {m for m in found if m in known}


def import_graph() -> dict[str, set[str]]:
    """Module -> the Shipyard modules it imports."""
    known = modules()
    return {name: imports_in(path.read_text(), known) - {name} for name, path in known.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as ``[a, b, ..., a]``, or None when the graph has none (depth-first search)."""
    done: set[str] = set()
    for root in sorted(graph):
        if root in done:
            continue
        path = [root]
        stack = [iter(sorted(graph[root]))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                done.add(path.pop())
                stack.pop()
            elif nxt in path:
                return [*path[path.index(nxt) :], nxt]
            elif nxt not in done:
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def without_allowed(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    return {name: {m for m in targets if (name, m) not in ALLOWED} for name, targets in graph.items()}


def test_no_import_cycle() -> None:
    cycle = find_cycle(without_allowed(import_graph()))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_allowed_edges_still_exist() -> None:
    graph = import_graph()
    gone = sorted(edge for edge in ALLOWED if edge[1] not in graph.get(edge[0], set()))
    assert not gone, f"{gone} no longer imported: remove them from ALLOWED"


def test_the_cycle_finder_sees_a_cycle_and_its_absence() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"a"}}) == ["a", "a"]


def test_the_graph_counts_imports_in_functions_and_under_type_checking() -> None:
    text = (
        "from typing import TYPE_CHECKING\n"
        "from shipyard.core import proxy, records\n"
        "from shipyard.errors import ProxyError\n"
        "if TYPE_CHECKING:\n"
        "    from shipyard.core.proxy_layout import Backend\n"
        "def render() -> None:\n"
        "    import shipyard.core.traffic\n"
    )
    assert imports_in(text, modules()) == {
        "shipyard.core.proxy",
        "shipyard.core.records",
        "shipyard.errors",
        "shipyard.core.proxy_layout",
        "shipyard.core.traffic",
    }
