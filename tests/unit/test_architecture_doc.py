"""docs/architecture.md stays true: every module path it names exists, and its "Where does X
live" table names, for each everyday action, files that exist and hold what the row says."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
PACKAGES = ("core", "manifest", "state", "drivers", "engine", "schemas", "server", "cli")
PATH = re.compile(r"`((?:[\w.]+/)*[\w.]+\.py)(?:[:`])")


def resolve(path: str) -> Path | None:
    """A path as the doc writes it: under src/shipyard for a package, else from the root."""
    first = path.split("/", 1)[0]
    if first in PACKAGES or path in ("runtime.py", "errors.py", "home.py"):
        return ROOT / "src" / "shipyard" / path
    if first in ("tests", "bench", "scripts", "docs", "examples"):
        return ROOT / path
    return None


def test_every_module_path_in_the_doc_exists() -> None:
    named = {m.group(1) for m in PATH.finditer(DOC.read_text())}
    checked = {p: resolve(p) for p in named if "/" in p or p in ("runtime.py", "errors.py", "home.py")}
    missing = sorted(p for p, where in checked.items() if where is not None and not where.exists())
    assert len(checked) > 40, "the doc names fewer modules than expected: is the pattern still right?"
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"


def where_table() -> list[tuple[str, list[tuple[str, str]]]]:
    """The rows of "Where does X live": the action, and each `path` with its `name` if given."""
    text = DOC.read_text()
    section = text.split("## Where does X live", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or cells[0] in ("action", "") or set(cells[0]) <= {"-", ":"}:
            continue
        places = re.findall(r"`([\w/.]+\.py)`(?: \(`(\w+)`\))?", cells[1])
        rows.append((cells[0], places))
    return rows


def test_where_does_x_live_names_real_places() -> None:
    rows = where_table()
    actions = [action for action, _ in rows]
    everyday = (
        "deploy",
        "rollback",
        "canary check",
        "backup",
        "restore",
        "alert",
        "log search",
        "secret read",
    )
    for needed in everyday:
        assert needed in actions, f"the table has no row for {needed!r}"
    for action, places in rows:
        assert places, f"the row {action!r} names no module"
        for path, name in places:
            where = resolve(path)
            assert where is not None and where.exists(), f"{action}: {path} does not exist"
            if name:
                defined = re.search(rf"\b(def|class) {name}\b", where.read_text())
                assert defined, f"{action}: no {name} in {path}"
