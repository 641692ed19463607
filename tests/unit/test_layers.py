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
    "engine": {"engine", "core", "manifest", "state", "drivers", "errors"},
    "schemas": {"schemas", "core", "errors"},
    "server": {"server", "engine", "core", "schemas", "errors"},
    "cli": {"cli", "errors", "manifest", "drivers", "core", "schemas", "engine", "runtime"},
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


def test_cli_reads_drivers_only_for_local_files() -> None:
    """The CLI reads server.json, and decrypts SOPS files the user imports, on its own side."""
    for path in (SRC / "cli").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("shipyard.drivers"):
                assert node.module in ("shipyard.drivers.files", "shipyard.drivers.trust.sops"), path
