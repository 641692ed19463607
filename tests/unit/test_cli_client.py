"""The CLI's HTTP client against a real local HTTP server: timeouts and answers that are not JSON."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from shipyard.cli import client as client_module
from shipyard.cli.client import Client
from shipyard.errors import ConflictError, ServerUnavailable, ShipyardError


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _answer(self) -> None:
        if self.path.startswith("/slow"):
            time.sleep(1.0)
        if self.path.startswith("/html"):
            body, kind, code = b"<html><body>502 Bad Gateway</body></html>", "text/html", 502
        elif self.path.startswith("/conflict"):
            error = {"error": "held", "hint": "wait", "kind": "ConflictError"}
            body, kind, code = json.dumps(error).encode(), "application/json", 409
        else:
            body, kind, code = json.dumps({"ok": True}).encode(), "application/json", 200
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    (tmp_path / "server.json").write_text(json.dumps({"url": f"http://127.0.0.1:{server.server_port}"}))
    (tmp_path / "token").write_text("t0ken")
    yield tmp_path
    server.shutdown()
    server.server_close()


def test_an_answer_that_is_not_json_is_a_clear_error(home: Path) -> None:
    with pytest.raises(ShipyardError) as info:
        Client(home).get("/html")
    assert "answered 502 with something that is not JSON: <html><body>502 Bad Gateway" in info.value.message
    assert info.value.hint


def test_an_error_answer_becomes_the_server_s_error(home: Path) -> None:
    with pytest.raises(ConflictError) as info:  # by its kind: LockHeldError is a 409 too
        Client(home).post("/conflict")
    assert type(info.value) is ConflictError
    assert (info.value.message, info.value.hint) == ("held", "wait")


def test_no_request_waits_past_the_usual_timeout(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # long operations are jobs, followed by polling (tests/unit/test_cli_jobs.py): no request waits for one
    monkeypatch.setattr(client_module, "TIMEOUT", httpx.Timeout(0.3, connect=1.0))
    api = Client(home)
    with pytest.raises(ServerUnavailable):
        api.get("/slow")
    with pytest.raises(ServerUnavailable):
        api.post("/slow")
    assert api.post("/fast") == {"ok": True}
