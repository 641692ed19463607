"""The API's error answers and body limits as units: an unexpected exception answers 500 with a
generic message and nothing of the exception; the limits per route."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from shipyard.errors import TooLargeError
from shipyard.server.answers import install_handlers
from shipyard.server.gate import DEFAULT_LIMIT, MiB, body_limit, declared_length


def test_an_unexpected_exception_answers_500_without_its_text_or_traceback() -> None:
    app = FastAPI()
    install_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("password=hunter2 in /srv/secret/path")

    resp = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert resp.status_code == 500
    body = resp.json()
    assert set(body) == {"ok", "error", "hint", "status", "kind"}
    assert body["status"] == 500 and body["ok"] is False
    assert "hunter2" not in resp.text and "Traceback" not in resp.text and "RuntimeError" not in resp.text


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/api/deploy", DEFAULT_LIMIT),
        ("/api/secrets/dev/X", DEFAULT_LIMIT),
        ("/api/vault/dev/import", 2 * MiB),
        ("/api/vault/dev/import/x", DEFAULT_LIMIT),
    ],
)
def test_body_limits_per_route(path: str, limit: int) -> None:
    assert body_limit(path) == limit


@pytest.mark.parametrize(
    ("header", "length"),
    [({}, None), ({b"content-length": b"12"}, 12), ({b"content-length": b"0"}, 0)],
)
def test_declared_length(header: dict[bytes, bytes], length: int | None) -> None:
    assert declared_length(header) == length


@pytest.mark.parametrize("raw", [b"-1", b"12abc", b"9" * 40])
def test_a_malformed_length_is_refused(raw: bytes) -> None:
    with pytest.raises(TooLargeError):
        declared_length({b"content-length": raw})
