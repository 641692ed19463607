"""The import rules of docs/architecture.md, checked on every import statement."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "shipyard"

ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "core": {"core", "errors"},  # pure decisions over their own types and Protocols, below manifest
    "manifest": {"manifest", "core", "errors"},
    "state": {"state", "core", "errors"},
    "drivers": {"drivers", "core", "manifest", "errors"},
    "home": {"manifest", "errors"},
    "engine": {"engine", "home", "core", "manifest", "state", "drivers", "errors"},
    "schemas": {"schemas", "core", "errors"},
    "server": {"server", "engine", "core", "schemas", "errors"},
    "cli": {"cli", "errors", "manifest", "drivers", "core", "schemas", "home", "runtime"},
}


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("shipyard."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("shipyard.")}
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_follow_the_layers(package: str) -> None:
    base = SRC / package
    files = [base.with_suffix(".py")] if base.with_suffix(".py").exists() else base.rglob("*.py")
    for path in files:
        wrong = imports_of(path) - ALLOWED[package]
        assert not wrong, f"{path.relative_to(SRC)} imports {sorted(wrong)}"


# docs/architecture.md's row for `cli`: module -> True if only inside a function (lazily)
CLI_MAY_IMPORT: dict[str, bool] = {
    "shipyard.errors": False,
    "shipyard.cli": False,
    "shipyard.core.durations": False,
    "shipyard.core.dotenv": False,
    "shipyard.core.secret_limits": False,
    "shipyard.drivers.files": False,  # server.json, and the files a command writes
    "shipyard.core.pipeline.workflow": True,  # `ci export github` builds the workflow on the user's side
    "shipyard.core.pipeline.gitlab_ci": True,  # and `ci export gitlab` the .gitlab-ci.yml
    "shipyard.manifest": True,
    "shipyard.schemas": True,
    "shipyard.drivers.trust.sops": True,  # decrypts a SOPS file on the user's side
    "shipyard.home": True,  # `shipyard server` names its home
    "shipyard.runtime": True,  # and runs the composition root
}


def _shipyard_imports(tree: ast.Module) -> list[tuple[str, bool]]:
    """Every ``shipyard.*`` module imported, with whether the import is inside a function (or
    under ``if TYPE_CHECKING:``, for types only)."""
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("shipyard."):
            found.append((node.module or "", lazy))
        elif isinstance(node, ast.Import):
            found.extend((a.name, lazy) for a in node.names if a.name.startswith("shipyard."))
        typing_only = isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
        inside = lazy or typing_only or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(tree, False)
    return found


def _cli_rule(module: str) -> bool | None:
    for allowed, lazy in CLI_MAY_IMPORT.items():
        if module == allowed or module.startswith(allowed + "."):
            return lazy
    return None


def test_cli_imports_exactly_what_the_architecture_allows() -> None:
    for path in (SRC / "cli").rglob("*.py"):
        for module, lazy in _shipyard_imports(ast.parse(path.read_text())):
            rule = _cli_rule(module)
            assert rule is not None, f"{path.relative_to(SRC)} imports {module}"
            assert lazy or not rule, f"{path.relative_to(SRC)} imports {module} at module level, not lazily"


def test_the_cli_rule_catches_a_wrong_import() -> None:
    source = "from shipyard.runtime import serve\ndef f():\n    from shipyard.engine.context import Context\n"
    tree = ast.parse(source)
    found = _shipyard_imports(tree)
    assert found == [("shipyard.runtime", False), ("shipyard.engine.context", True)]
    assert _cli_rule("shipyard.runtime") is True  # so the first one, at module level, fails
    assert _cli_rule("shipyard.engine.context") is None


# engine internals a route must not reach: it calls the engine's services instead
SERVER_MAY_NOT_READ = {"ctx", "store"}


def _reads(tree: ast.AST) -> set[str]:
    return {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)} & SERVER_MAY_NOT_READ


def test_the_server_reaches_neither_the_store_nor_the_context() -> None:
    for path in (SRC / "server").rglob("*.py"):
        reached = _reads(ast.parse(path.read_text()))
        assert not reached, f"{path.relative_to(SRC)} reads {sorted(reached)}: call an engine service"


def test_the_server_rule_catches_a_route_reading_the_store() -> None:
    assert _reads(ast.parse("jobs = engine.ctx.store.jobs.jobs()")) == {"ctx", "store"}
    assert _reads(ast.parse("jobs = engine.jobs.recent(None, 20)")) == set()
