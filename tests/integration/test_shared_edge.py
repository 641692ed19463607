"""The shared edge on real HAProxy processes: two apps (each its own HAProxy, as each registered
app has) behind one edge HAProxy on one HTTP and one HTTPS port, routed by Host and by SNI, the
client's address reaching the app through the PROXY protocol, an unknown host answered 404 (an
unknown SNI closed), and a refused change (a name claimed twice, a configuration HAProxy rejects)
leaving the edge serving its last good configuration."""

from __future__ import annotations

import json
import os
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from tests.integration.ports import free_port
from tests.unit.ca import CA
from tests.unit.test_edge_rules import backend

from shipyard.core.edge import EdgeRules
from shipyard.core.edge_config import EdgePorts, render_edge_config
from shipyard.core.edge_routes import Route, edge_socket
from shipyard.core.proxy_layout import ProxyLayout
from shipyard.core.tls import Pem, Tls
from shipyard.drivers.proxy.edge import EdgeProxy
from shipyard.drivers.proxy.haproxy import HAProxy, find_haproxy
from shipyard.errors import ManifestError, ProxyError

pytestmark = pytest.mark.integration
DOMAINS = {"shop": ("shop.test", "*.shop.test"), "blog": ("blog.test",)}


def answering(name: str) -> type[BaseHTTPRequestHandler]:
    class Named(BaseHTTPRequestHandler):
        """Answers its app's name and the request's headers as JSON."""

        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            body = json.dumps({"app": name, **headers}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    return Named


class Rig:
    """Two apps' HAProxys (environment dev each, with TLS) and the edge in front of them."""

    def __init__(self, root: Path, ca: CA) -> None:
        self.root, self.ca = root, ca
        self.servers: list[ThreadingHTTPServer] = []
        self.proxies: dict[str, HAProxy] = {}
        self.edge = EdgeProxy(root / "edge", find_haproxy())
        self.ports = EdgePorts(free_port(), free_port(), "127.0.0.1")

    def start_app(self, app: str) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", free_port()), answering(app))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.servers.append(server)
        folder = self.root / app / "proxy"
        folder.mkdir(parents=True)
        proxy = self.proxies[app] = HAProxy(folder, find_haproxy())
        issued = self.ca.issue(*DOMAINS[app])
        rules = EdgeRules(domains=DOMAINS[app], tls=Tls(free_port()))
        be = backend(rules, None, f"127.0.0.1:{server.server_address[1]}", f"127.0.0.1:{free_port()}")
        proxy.sync(ProxyLayout((replace(be, certificate=Pem(issued.cert + issued.key)),)))

    def route(self, app: str, *domains: str) -> Route:
        folder = self.root / app / "proxy"

        def rel(scheme: str) -> str:
            return os.path.relpath(folder / edge_socket("dev", scheme), self.edge.folder)

        where = f"{app}/shipyard.yaml: environments.dev.edge.domains"
        return Route(app, "dev", domains or DOMAINS[app], where, rel("http"), rel("https"))

    def render(self, *routes: Route) -> str:
        return render_edge_config(routes, self.ports, str(self.edge.socket_path))

    def get(self, host: str, source: str = "127.0.0.1") -> httpx.Response:
        transport = httpx.HTTPTransport(local_address=source)
        with httpx.Client(transport=transport, timeout=5) as client:
            return client.get(f"http://127.0.0.1:{self.ports.http}/", headers={"Host": host})

    def get_tls(self, name: str) -> httpx.Response:
        with httpx.Client(verify=ssl.create_default_context(cadata=self.ca.pem), timeout=5) as client:
            return client.get(
                f"https://127.0.0.1:{self.ports.https}/",
                headers={"Host": name},
                extensions={"sni_hostname": name},
            )

    def close(self) -> None:
        self.edge.stop()
        for proxy in self.proxies.values():
            proxy.stop()
        for server in self.servers:
            server.shutdown()


@pytest.fixture(scope="module")
def ca() -> CA:
    return CA()


@pytest.fixture
def rig(tmp_path: Path, ca: CA) -> Iterator[Rig]:
    made = Rig(tmp_path, ca)
    made.start_app("shop")
    made.start_app("blog")
    assert made.edge.apply(made.render(made.route("shop"), made.route("blog")))
    yield made
    made.close()


def test_two_apps_on_one_port_by_host_and_an_unknown_host_gets_404(rig: Rig) -> None:
    assert rig.get("shop.test").json()["app"] == "shop"
    assert rig.get(f"blog.test:{rig.ports.http}").json()["app"] == "blog"
    assert rig.get("eu.shop.test").json()["app"] == "shop"  # the wildcard
    unknown = rig.get("other.test")
    assert unknown.status_code == 404
    assert unknown.text == "no app serves this host name\n"
    assert rig.get("shop.test.evil.test").status_code == 404  # not a suffix at a dot


def test_the_client_address_reaches_the_app(rig: Rig) -> None:
    seen = rig.get("shop.test", source="127.0.0.7").json()
    assert seen["x-forwarded-for"] == "127.0.0.7"  # not the edge's own address
    assert seen["forwarded"] == "for=127.0.0.7;proto=http"


def test_https_by_sni_to_two_environments(rig: Rig) -> None:
    shop = rig.get_tls("shop.test")
    assert shop.status_code == 200 and shop.json()["app"] == "shop"
    assert shop.json()["x-forwarded-proto"] == "https"  # TLS ends in the app's own HAProxy
    assert rig.get_tls("blog.test").json()["app"] == "blog"
    context = ssl.create_default_context(cadata=rig.ca.pem)
    with (  # a name nobody serves: closed before any certificate is shown
        socket.create_connection(("127.0.0.1", rig.ports.https), timeout=5) as raw,
        pytest.raises((ssl.SSLError, ConnectionResetError)),
    ):
        context.wrap_socket(raw, server_hostname="other.test")


def test_a_name_claimed_twice_is_refused_and_the_edge_keeps_serving(rig: Rig) -> None:
    before = rig.edge.config_path.read_text()
    with pytest.raises(ManifestError, match="already claimed by environment 'dev' of app 'shop'"):
        rig.edge.apply(rig.render(rig.route("shop"), rig.route("blog", "blog.test", "shop.test")))
    assert rig.edge.config_path.read_text() == before
    assert rig.get("shop.test").json()["app"] == "shop"


def test_a_configuration_haproxy_rejects_leaves_the_last_good_one(rig: Rig) -> None:
    before = rig.edge.config_path.read_text()
    with pytest.raises(ProxyError, match="rejected the configuration"):
        rig.edge.apply(before.replace("mode tcp", "mode nonsense"))
    assert rig.edge.config_path.read_text() == before
    assert not (rig.edge.folder / "haproxy.cfg.new").exists()
    assert rig.get("blog.test").json()["app"] == "blog"


def test_a_new_route_is_served_after_apply_and_a_removed_one_is_404(rig: Rig) -> None:
    assert not rig.edge.apply(rig.render(rig.route("shop"), rig.route("blog")))  # unchanged: no reload
    assert rig.edge.apply(rig.render(rig.route("shop")))
    assert rig.get("blog.test").status_code == 404
    assert rig.get("shop.test").json()["app"] == "shop"
