"""The CLI's start: the hot commands reach the server without loading the Typer app.

``shipyard rollback`` and ``deploy`` run through ``cli/hot.py`` against a real local HTTP
server (a stand-in for the control plane's few routes); ``python -X importtime`` lists what
they loaded. Structural asserts only: how fast it starts is bench/cli_start.py's business.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import typer

from shipyard.cli.hot import GLOBAL, HOT, Call, parse
from shipyard.cli.main import app

# What a rollback must not load before (or after) it sends its request.
HEAVY = {
    "typer",
    "click",
    "httpx",
    "http.client",  # its imports (email.parser, ssl) cost more than the rest of the fast path
    "pydantic",
    "rich.table",
    "shipyard.cli.main",
    "shipyard.manifest.models",
    "sqlalchemy",
    "yaml",
}


class ControlPlane(BaseHTTPRequestHandler):
    """The routes a rollback and a deploy use; every request is recorded on the server."""

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.server.seen.append((self.command, self.path, body, self.headers.get("Authorization")))  # type: ignore[attr-defined]
        code, data = self._route()
        raw = json.dumps(data).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _route(self) -> tuple[int, dict[str, Any]]:
        if self.path in ("/api/rollback", "/api/deploy"):
            if self.server.refuse:  # type: ignore[attr-defined]
                return 409, {"ok": False, "error": "dev is locked", "hint": "wait", "kind": "ConflictError"}
            return 200, {"ok": True, "deployment": 7}
        if self.path.startswith("/api/deployments/7/samples"):
            return 200, {"samples": []}
        event = {"id": 1, "at": time.time(), "step": "switch", "status": "ok", "message": "switched"}
        return 200, {"events": [event], "status": "succeeded", "release": "r3", "error": None}

    do_GET = do_POST = _answer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ControlPlane)
    server.seen = []  # type: ignore[attr-defined]
    server.refuse = False  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    (tmp_path / "server.json").write_text(json.dumps({"url": f"http://127.0.0.1:{server.server_port}"}))
    (tmp_path / "token").write_text("t0ken\n")
    yield server
    server.shutdown()
    server.server_close()


def shipyard(home: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run the CLI as a user does (``python -m shipyard``); the modules it imported."""
    env = {k: v for k, v in os.environ.items() if k not in ("SHIPYARD_TOKEN", "SHIPYARD_HOME")}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "shipyard", "--home", str(home), *args],
        capture_output=True,
        text=True,
        env={**env, "NO_COLOR": "1", "COLUMNS": "100"},
        timeout=60,
        check=False,
    )
    loaded = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if "import time:" in line}
    return done, loaded


def test_rollback_sends_its_request_without_loading_the_typer_app(
    server: ThreadingHTTPServer, tmp_path: Path
) -> None:
    done, loaded = shipyard(tmp_path, "rollback", "staging", "--to", "r3")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "rollback 7 succeeded: r3 is serving" in done.stdout
    assert "switch" in done.stdout and "switched" in done.stdout
    seen = server.seen  # type: ignore[attr-defined]
    assert seen[0] == ("POST", "/api/rollback", {"env": "staging", "to": "r3"}, "Bearer t0ken")
    assert [path for _, path, _, _ in seen[1:]] == ["/api/deployments/7/events?after=0"]  # it had ended
    assert loaded & HEAVY == set()
    assert "shipyard.cli.hot" in loaded and "shipyard.cli.connection" in loaded


def test_deploy_without_wait_asks_once_and_does_not_follow(
    server: ThreadingHTTPServer, tmp_path: Path
) -> None:
    done, loaded = shipyard(tmp_path, "deploy", "--no-wait", "--release=r2")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "deployment 7 to dev"
    assert server.seen == [("POST", "/api/deploy", {"env": "dev", "release": "r2"}, "Bearer t0ken")]  # type: ignore[attr-defined]
    assert loaded & HEAVY == set()


def test_a_refused_rollback_prints_error_and_hint_and_exits_1(
    server: ThreadingHTTPServer, tmp_path: Path
) -> None:
    server.refuse = True  # type: ignore[attr-defined]
    done, _ = shipyard(tmp_path, "rollback")
    assert done.returncode == 1
    assert "Error: dev is locked" in done.stderr and "Try: wait" in done.stderr


def test_help_and_unknown_options_go_to_the_typer_app(tmp_path: Path) -> None:
    helped, loaded = shipyard(tmp_path, "rollback", "--help")
    assert helped.returncode == 0 and "--to" in helped.stdout and "Usage" in helped.stdout
    assert "shipyard.cli.main" in loaded
    # the full app loads its heavy modules only in the commands that use them
    assert loaded & {"httpx", "shipyard.manifest.models", "shipyard.drivers.trust.sops"} == set()
    wrong, _ = shipyard(tmp_path, "rollback", "--bogus")
    assert wrong.returncode == 2 and "No such option" in wrong.stderr


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["rollback"], Call("rollback", {"env": "dev", "to": None}, Path(".shipyard"), Path("."))),
        (
            ["--home", "/h", "--app-dir=/a", "rollback", "prod", "--to=r1"],
            Call("rollback", {"env": "prod", "to": "r1"}, Path("/h"), Path("/a")),
        ),
        (
            ["rollback", "--to", "r1", "prod"],
            Call("rollback", {"env": "prod", "to": "r1"}, Path(".shipyard"), Path(".")),
        ),
        (
            ["deploy", "staging", "--no-wait"],
            Call("deploy", {"env": "staging", "release": None, "wait": False}, Path(".shipyard"), Path(".")),
        ),
        (
            ["deploy", "--no-wait", "--wait"],
            Call("deploy", {"env": "dev", "release": None, "wait": True}, Path(".shipyard"), Path(".")),
        ),
        (
            ["deploy"],
            Call("deploy", {"env": "dev", "release": None, "wait": True}, Path(".shipyard"), Path(".")),
        ),
        (["rollback", "--help"], None),
        (["rollback", "a", "b"], None),  # Typer says: unexpected extra argument
        (["rollback", "--to"], None),  # Typer says: option requires an argument
        (["rollback", "--to", "--help"], None),
        (["rollback", "--", "dev"], None),
        (["--home"], None),
        (["status"], None),
        (["--help"], None),
        ([], None),
    ],
)
def test_parse_takes_only_what_it_reads_as_typer_would(argv: list[str], expected: Call | None) -> None:
    assert parse(argv) == expected


def test_parse_reads_the_home_from_the_environment_as_typer_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_HOME", "/from/env")
    call = parse(["rollback"])
    assert call is not None and call.home == Path("/from/env")
    call = parse(["--home", "/given", "rollback"])
    assert call is not None and call.home == Path("/given")


def test_the_fast_path_knows_the_options_and_defaults_the_typer_app_declares() -> None:
    group: Any = typer.main.get_command(app)  # Click objects (Typer's own copy of Click)
    declared = {p.opts[0]: (p.name, p.envvar, str(p.default)) for p in group.params}
    assert declared == GLOBAL
    for name, spec in HOT.items():
        params = group.commands[name].params
        arguments = [(p.name, p.default) for p in params if p.param_type_name == "argument"]
        options: dict[str, tuple[str, object]] = {}
        switches: dict[str, tuple[str, bool]] = {}
        for p in params:
            if p.param_type_name == "option" and p.is_flag:
                switches |= {flag: (p.name, True) for flag in p.opts}
                switches |= {flag: (p.name, False) for flag in p.secondary_opts}
                assert p.default is spec.defaults()[p.name]
            elif p.param_type_name == "option":
                options |= {flag: (p.name, p.default) for flag in p.opts}
        assert arguments == [spec.argument], name
        assert options == spec.options, name
        assert switches == spec.switches, name
