"""The edge rules and the maintenance page on real HAProxy (``core/proxy_edge.py`` rendered by the
HAProxy driver) in front of a small real HTTP server: 429 with Retry-After, 413, 403 for a denied
network, the forwarded headers the app sees, gzip, and maintenance switched at run time."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from tests.integration.ports import free_port
from tests.unit.test_edge_rules import backend

from shipyard.core.edge import EdgeRules, Maintenance, RateLimit
from shipyard.core.proxy_layout import ProxyLayout
from shipyard.drivers.proxy.haproxy import HAProxy, find_haproxy

pytestmark = pytest.mark.integration
TEXT = "hello edge " * 200


class App(BaseHTTPRequestHandler):
    """Answers with the request's headers as JSON; /text a long text/plain page; /packed one the
    app compressed itself."""

    protocol_version = "HTTP/1.1"  # HAProxy compresses no HTTP/1.0 answer

    def do_GET(self) -> None:
        if self.path == "/text":
            self._answer(TEXT.encode(), "text/plain")
        elif self.path == "/packed":
            self._answer(gzip.compress(TEXT.encode()), "text/plain", {"Content-Encoding": "gzip"})
        else:
            self._answer(
                json.dumps({k.lower(): v for k, v in self.headers.items()}).encode(), "application/json"
            )

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(b"{}", "application/json")

    def _answer(self, body: bytes, kind: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def app() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), App)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[HAProxy]:
    driver = HAProxy(tmp_path, find_haproxy())
    yield driver
    driver.stop()


def layout(port: int, app: int, rules: EdgeRules, maintenance: Maintenance | None = None) -> ProxyLayout:
    return ProxyLayout((backend(rules, maintenance, f"127.0.0.1:{app}", f"127.0.0.1:{port}"),))


def client(source: str = "127.0.0.1") -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=5)


def test_rate_limits_answer_429_with_retry_after(proxy: HAProxy, app: int) -> None:
    port = free_port()
    limits = (RateLimit(6, 30.0), RateLimit(2, 10.0, "/api"))
    proxy.sync(layout(port, app, EdgeRules(rate_limits=limits)))
    url = f"http://127.0.0.1:{port}"
    with client() as http:
        api = [http.get(f"{url}/api/notes") for _ in range(3)]
        assert [r.status_code for r in api] == [200, 200, 429]
        assert api[2].headers["retry-after"] == "10"
        assert http.get(f"{url}/apiary").status_code == 200  # not under /api
        assert [http.get(f"{url}/").status_code for _ in range(4)] == [200, 200, 200, 429]
        refused = http.get(f"{url}/")
        assert refused.status_code == 429 and refused.headers["retry-after"] == "30"
    with client("127.0.0.2") as other:  # another client address has its own count
        assert other.get(f"{url}/api/notes").status_code == 200


def test_a_body_over_max_body_is_413(proxy: HAProxy, app: int) -> None:
    port = free_port()
    proxy.sync(layout(port, app, EdgeRules(max_body=1024)))
    with client() as http:
        assert http.post(f"http://127.0.0.1:{port}/up", content=b"x" * 1024).status_code == 200
        assert http.post(f"http://127.0.0.1:{port}/up", content=b"x" * 1025).status_code == 413


def test_denied_and_unlisted_networks_get_403(proxy: HAProxy, app: int) -> None:
    port = free_port()
    rules = EdgeRules(allow=("127.0.0.0/30",), deny=("127.0.0.2/32",))
    proxy.sync(layout(port, app, rules))
    url = f"http://127.0.0.1:{port}/"
    codes = {}
    for source in ("127.0.0.1", "127.0.0.2", "127.0.0.9"):
        with client(source) as http:
            codes[source] = http.get(url).status_code
    assert codes == {"127.0.0.1": 200, "127.0.0.2": 403, "127.0.0.9": 403}


def test_the_app_sees_the_client_address_and_scheme_whatever_the_client_sent(
    proxy: HAProxy, app: int
) -> None:
    port = free_port()
    proxy.sync(layout(port, app, EdgeRules()))
    spoofed = {"X-Forwarded-For": "6.6.6.6", "Forwarded": "for=6.6.6.6", "X-Forwarded-Proto": "https"}
    with client("127.0.0.3") as http:
        seen = http.get(f"http://127.0.0.1:{port}/", headers=spoofed).json()
    assert seen["x-forwarded-for"] == "127.0.0.3"
    assert seen["forwarded"] == "for=127.0.0.3;proto=http"
    assert seen["x-forwarded-proto"] == "http"


def test_text_is_gzipped_unless_the_app_did_or_compression_is_off(proxy: HAProxy, app: int) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proxy.sync(layout(port, app, EdgeRules()))
    with client() as http:
        text = http.get(f"{url}/text", headers={"Accept-Encoding": "gzip"})
        assert text.headers["content-encoding"] == "gzip" and text.text == TEXT
        assert text.num_bytes_downloaded < len(TEXT) // 4
        packed = http.get(f"{url}/packed", headers={"Accept-Encoding": "gzip"})
        assert packed.text == TEXT  # compressed once, by the app, not twice
        assert (
            "content-encoding" not in http.get(f"{url}/text", headers={"Accept-Encoding": "identity"}).headers
        )
    proxy.sync(layout(port, app, EdgeRules(compression=False)))
    with client() as http:
        assert "content-encoding" not in http.get(f"{url}/text", headers={"Accept-Encoding": "gzip"}).headers


def test_maintenance_is_switched_through_the_runtime_api_and_lets_allowed_networks_through(
    proxy: HAProxy, app: int
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    proxy.sync(layout(port, app, EdgeRules()))
    worker = proxy._worker_pid()
    page = Maintenance("Back at 14:00; we move the database", allow=("127.0.0.5/32",))
    proxy.sync(layout(port, app, EdgeRules(), page))
    with client() as http:
        closed = http.get(url)
    assert closed.status_code == 503 and closed.headers["retry-after"] == "60"
    assert closed.text.strip() == "Back at 14:00; we move the database"
    with client("127.0.0.5") as allowed:
        assert allowed.get(url).status_code == 200
    proxy.sync(layout(port, app, EdgeRules()))
    with client() as http:
        assert http.get(url).status_code == 200
    assert proxy._worker_pid() == worker  # on and off with no reload

    proxy.sync(layout(port, app, EdgeRules(), page))
    adopted = HAProxy(proxy.folder, find_haproxy())  # a restarted control plane keeps the page on
    adopted.sync(layout(port, app, EdgeRules(), page))
    with client() as http:
        assert http.get(url).status_code == 503
    assert adopted._worker_pid() == worker
