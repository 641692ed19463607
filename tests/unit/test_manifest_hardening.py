"""Manifest values that reach HAProxy or a command line: strict patterns, duplicate keys, depth.

Each table row is a value a security review showed reaching ``haproxy.cfg`` or an app's
environment unchecked; every one must now be refused at load time with its key path and a hint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import ManifestError
from shipyard.manifest.loader import load_manifest, parse_manifest
from shipyard.manifest.yamlread import MAX_DEPTH, read_yaml

INJECTION = "127.0.0.1:8080\n    stats enable\n    stats admin if TRUE\n#"


def base(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "app": "notes",
        "processes": {"web": {"command": "uvicorn app:app --port $PORT"}},
        "environments": {"dev": {"port": 8080}},
    }
    data.update(extra)
    return data


def dev(**keys: Any) -> dict[str, Any]:
    return base(environments={"dev": {"port": 8080, **keys}})


def error_of(data: object) -> ManifestError:
    with pytest.raises(ManifestError) as info:
        parse_manifest(data)
    return info.value


@pytest.mark.parametrize(
    ("data", "where", "hint"),
    [
        (dev(bind=INJECTION), "environments.dev.bind: ", "127.0.0.1 or 0.0.0.0"),
        (dev(bind="127.0.0.1:9000"), "environments.dev.bind: ", "the port is `port`"),
        (dev(bind="localhost"), "environments.dev.bind: ", "write the address only"),
        (dev(bind="256.0.0.1"), "environments.dev.bind: ", "write the address only"),
        (
            base(health={"path": "/health\n    stats admin if TRUE"}),
            "health.path: ",
            "no spaces, quotes or #",
        ),
        (base(health={"path": "/health #x"}), "health.path: ", "percent-encode"),
        (base(health={"path": '/h"x'}), "health.path: ", "percent-encode"),
        (base(health={"path": "/${HOME}"}), "health.path: ", "percent-encode"),
        (base(health={"path": "/" + "a" * 1024}), "health.path: ", "at most 1024"),
        (base(smoke=[{"path": "/ok\r\nX: y"}]), "smoke[0].path: ", "percent-encode"),
        (base(environments={"Dev\nx": {"port": 8080}}), "environments.Dev\nx: ", "lowercase letters"),
        (
            base(processes={"web": {"command": "x"}, "../w": {"command": "y"}}),
            "processes.../w: ",
            "lowercase letters",
        ),
        (base(env={"A=B": "1"}), "env.A=B: ", "letters, digits and _"),
        (base(env={"A": "x\0y"}), "env.A: ", "without NUL"),
        (dev(env={"1X": "v"}), "environments.dev.env.1X: ", "not starting with a digit"),
        (base(health={"interval": float("nan")}), "health.interval: ", "docs/configuration.md"),
        (
            base(strategy={"blue_green": {"rollback_window": float("inf")}}),
            "strategy.blue_green.rollback_window: ",
            "finite duration",
        ),
        (base(health={"timeout": float("inf")}), "health.timeout: ", "finite duration"),
    ],
)
def test_unsafe_values_are_refused_with_path_and_hint(data: dict[str, Any], where: str, hint: str) -> None:
    err = error_of(data)
    assert where in err.message
    assert hint in err.hint


@pytest.mark.parametrize(
    "path", ["/", "/health", "/api/v1/health?full=1&x=a%20b", "/h-e_a.l~t:h@x;y=1,2*(3)+4!"]
)
def test_plain_url_paths_pass(path: str) -> None:
    assert parse_manifest(base(health={"path": path})).health.path == path


@pytest.mark.parametrize("bind", ["127.0.0.1", "0.0.0.0", "10.1.2.3"])
def test_ipv4_binds_pass(bind: str) -> None:
    assert parse_manifest(dev(bind=bind)).environments["dev"].bind == bind


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "shipyard.yaml"
    path.write_text(text)
    return path


MANIFEST = """\
app: notes
processes:
  web: {command: "uvicorn app:app --port $PORT"}
environments:
  production:
    port: 8080
    approval: {required: true}
  staging:
    port: 8081
  production:
    port: 8080
"""


def test_a_repeated_environment_block_is_refused_naming_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, MANIFEST)
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    assert f"{path}: key environments.production is given twice, on lines 5 and 10" in info.value.message
    assert "merge" in info.value.hint


@pytest.mark.parametrize(
    ("text", "key", "lines"),
    [
        ("a: 1\na: 2\n", "a", "1 and 2"),
        ("a: {b: 1, b: 2}\n", "a.b", "1 and 1"),
        ("a:\n  - x: 1\n  - y: 1\n    y: 2\n", "a[1].y", "3 and 4"),
    ],
)
def test_duplicate_keys_anywhere_are_refused(text: str, key: str, lines: str) -> None:
    with pytest.raises(ManifestError) as info:
        read_yaml(text, "shipyard.yaml")
    assert f"key {key} is given twice, on lines {lines}" in info.value.message


def test_anchors_aliases_and_merges_still_load() -> None:
    data = read_yaml("a: &x {b: 1}\nc: *x\nd: {<<: *x, e: 2}\n", "f")
    assert data == {"a": {"b": 1}, "c": {"b": 1}, "d": {"b": 1, "e": 2}}


@pytest.mark.parametrize("opening", ["[", "{a: "])
def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path: Path, opening: str) -> None:
    closing = "]" if opening == "[" else "}"
    path = write(tmp_path, "app: " + opening * 900 + "1" + closing * 900 + "\n")
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    assert f"nested more than {MAX_DEPTH} levels deep" in info.value.message
    assert str(path) in info.value.message


def test_nesting_up_to_the_limit_is_read_one_more_is_not() -> None:
    inner = MAX_DEPTH - 1  # the document's top mapping is the first level
    assert read_yaml("a: " + "[" * inner + "1" + "]" * inner, "f") is not None
    with pytest.raises(ManifestError, match="nested more than 64 levels"):
        read_yaml("a: " + "[" * (inner + 1) + "1" + "]" * (inner + 1), "f")
