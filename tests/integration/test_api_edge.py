"""The API's edge on a real control plane: who and how much before any work, bounded input,
one error shape, the OpenAPI document behind a token."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import psutil
import pytest
from tests.integration.conftest import Shipyard

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


def rss(shipyard: Shipyard) -> int:
    return int(psutil.Process(shipyard.server_pid()).memory_info().rss)


def _answer(sock: socket.socket) -> bytes:
    """One whole HTTP answer: its head, then as many body bytes as its Content-Length says (the
    two may come in separate reads)."""
    answer = b""
    while b"\r\n\r\n" not in answer and (part := sock.recv(65536)):
        answer += part
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length and (part := sock.recv(65536)):
        body += part
    return head + b"\r\n\r\n" + body


def raw_post(port: int, path: str, length: int, headers: str = "") -> bytes:
    """POST a declared ``length``-byte body: the answer, read after the first 64 KiB of it (the
    rest is sent after the answer, as a client that does not wait would; uvicorn discards it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        sock.sendall(f"{head}{headers}Content-Length: {length}\r\n\r\n".encode() + b"x" * 65536)
        answer = _answer(sock)
        sent, chunk = 0, b"x" * MiB
        try:
            while sent < length - 65536:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:  # reset, broken pipe or timeout: the server read no more
            pass
    return answer


def test_a_large_body_is_refused_before_it_is_read(shipyard: Shipyard) -> None:
    shipyard.up()
    before = rss(shipyard)
    # 100 MB with no token: 401 after the first 64 KiB; the server keeps none of it
    answer = raw_post(shipyard.api_port, "/api/deploy", 100 * MiB)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b'"kind":"AuthError"' in answer
    assert rss(shipyard) - before < 30 * MiB
    # with a valid token, a declared length over the route's limit is refused the same way
    token = (shipyard.home / "token").read_text().strip()
    answer = raw_post(shipyard.api_port, "/api/deploy", 100 * MiB, f"Authorization: Bearer {token}\r\n")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"kind":"TooLargeError"' in answer
    assert rss(shipyard) - before < 30 * MiB

    # a body sent without a length (chunked) is counted as it arrives
    def chunks() -> Iterator[bytes]:
        for _ in range(4):
            yield b" " * (MiB // 2)

    with shipyard.api() as api:
        streamed = api.post("/api/deploy", content=chunks(), headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413, streamed.text
        assert streamed.json()["kind"] == "TooLargeError" and streamed.json()["status"] == 413
        # a secrets import may be larger than the default 1 MiB: the gate lets it through, and
        # the vault holds it to its own limits (a 422 naming them, not a 413)
        values = {f"BIG_{n}": "v" * 60000 for n in range(30)}
        imported = api.post("/api/vault/dev/import", json={"values": values})
        assert imported.status_code == 422, imported.text[:300]
        assert "the limit is 512 KiB per environment" in imported.json()["error"]
        values = {f"BIG_{n}": "v" * 60000 for n in range(40)}  # over the import route's 2 MiB
        assert api.post("/api/vault/dev/import", json={"values": values}).status_code == 413


def test_out_of_range_input_is_a_422_naming_the_field(shipyard: Shipyard) -> None:
    shipyard.up()
    with shipyard.api() as api:
        cases = [
            api.get(f"/api/deployments/{2**64}"),
            api.get("/api/deployments", params={"limit": 2**63}),
            api.get(f"/api/deployments/1/events?after={2**70}"),
            api.get("/api/metrics/dev", params={"since": "nan"}),
            api.get("/api/secrets/dev/NOT-A-NAME"),
            api.post("/api/rollouts/dev/explode"),
            api.post("/api/deploy", json={"env": "Dev; rm -rf /"}),
            api.post("/api/users", json={"name": "x" * 500, "role": "viewer"}),
            api.post(
                "/api/secrets/dev/DB_PASSWORD",
                content=b'{"value": "x", "rotate_every": NaN}',
                headers={"Content-Type": "application/json"},
            ),
            api.post("/api/secrets/dev/DB_PASSWORD", json={"value": "x", "expires_at": 1e300}),
            api.post("/api/secrets/dev/DB_PASSWORD", json={"value": "x", "cas": 2**64}),
        ]
        for resp in cases:
            assert resp.status_code == 422, (resp.request.url, resp.text)
            body = resp.json()
            assert set(body) == {"ok", "error", "hint", "status", "kind"} and body["status"] == 422
        # NaN never reached the vault: no secret was written, and the audit log holds no "ok" for it
        assert api.get("/api/secrets/dev").json()["secrets"] == []


def test_every_error_has_one_shape_and_its_status(shipyard: Shipyard) -> None:
    shipyard.up()
    base = f"http://127.0.0.1:{shipyard.api_port}"
    with shipyard.api() as api:
        expected = {
            "/api/no-such-route": (404, "NotFoundError"),
            "/api/deployments/424242": (404, "NotFoundError"),
            "/api/secrets/dev/NOPE": (404, "NotFoundError"),
            "/api/config/nope": (404, "NotFoundError"),
        }
        for path, (status, kind) in expected.items():
            resp = api.get(path)
            assert (resp.status_code, resp.json()["kind"]) == (status, kind), (path, resp.text)
            assert resp.json()["ok"] is False and resp.json()["status"] == status and resp.json()["hint"]
        wrong_method = api.delete("/api/status")
        assert wrong_method.status_code == 405 and wrong_method.json()["status"] == 405
        # the OpenAPI document is there for a token holder; the docs pages are off
        document = api.get("/openapi.json")
        assert document.status_code == 200 and "/api/deploy" in document.json()["paths"]
        deploy = document.json()["paths"]["/api/deploy"]["post"]
        assert deploy["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/Started"
        )
        assert api.get("/docs").status_code == 404 and api.get("/redoc").status_code == 404
    anonymous = httpx.get(f"{base}/openapi.json", trust_env=False)
    assert anonymous.status_code == 401 and anonymous.json()["kind"] == "AuthError"
    assert httpx.get(f"{base}/api/ping", trust_env=False).json() == {"ok": True}
