"""TLS termination on real HAProxy with certificates from a self-made CA (``tests/unit/ca.py``):
HTTPS verified against the CA's root with HTTP/2 by ALPN, TLS 1.0 and 1.1 refused (and 1.2 when
1.3 is the minimum), the 308 redirect, the HSTS header, the scheme the app is told, a certificate
swapped over the runtime API with no reload, and a mismatched key refused before anything changes."""

from __future__ import annotations

import json
import socket
import ssl
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integration.ports import free_port
from tests.integration.test_edge_proxy import app, proxy  # noqa: F401 - fixtures; tests: F811
from tests.unit.ca import CA
from tests.unit.test_edge_rules import backend
from tests.unit.test_tls import Secrets

from shipyard.core.edge import EdgeRules
from shipyard.core.proxy_layout import ProxyLayout
from shipyard.core.tls import Hsts, Pem, Tls
from shipyard.drivers.proxy.haproxy import HAProxy, find_haproxy
from shipyard.engine.certs.files import CertificateFiles
from shipyard.errors import ManifestError
from shipyard.manifest.loader import parse_manifest

pytestmark = pytest.mark.integration
REFUSED = "refused: TLSV1_ALERT_PROTOCOL_VERSION"  # HAProxy's alert, not the client giving up


@pytest.fixture(scope="module")
def ca() -> CA:
    return CA()


def layout(upstream: int, tls: Tls, pem: Pem, http: int) -> ProxyLayout:
    be = backend(EdgeRules(tls=tls), None, f"127.0.0.1:{upstream}", f"127.0.0.1:{http}")
    return ProxyLayout((replace(be, certificate=pem),))


def pem_of(ca: CA, *names: str) -> Pem:
    issued = ca.issue(*names)
    return Pem(issued.cert + issued.key)


def handshake(port: int, version: ssl.TLSVersion, ca: CA) -> str:
    """The protocol a handshake at exactly ``version`` agrees on, or the error's text."""
    context = ssl.create_default_context(cadata=ca.pem)
    with warnings.catch_warnings():  # TLS 1.0 and 1.1 are deprecated: that is what is tested
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = context.maximum_version = version
    context.set_ciphers("ALL:@SECLEVEL=0")  # let the client offer old protocols; the server decides
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="app.test") as tls,
        ):
            return str(tls.version())
    except ssl.SSLError as exc:
        return f"refused: {exc.reason}"


def test_https_verified_by_the_root_and_h2(proxy: HAProxy, app: int, ca: CA, tmp_path: Path) -> None:  # noqa: F811
    http, https = free_port(), free_port()
    proxy.sync(layout(app, Tls(https), pem_of(ca, "app.test"), http))
    assert (tmp_path / "cert-dev.pem").stat().st_mode & 0o777 == 0o600
    with httpx.Client(verify=ssl.create_default_context(cadata=ca.pem), timeout=5) as client:
        got = client.get(  # the name the certificate covers, at 127.0.0.1
            f"https://127.0.0.1:{https}/",
            headers={"Host": "app.test"},
            extensions={"sni_hostname": "app.test"},
        )
    seen = json.loads(got.text)
    assert got.status_code == 200 and seen["x-forwarded-proto"] == "https"
    assert "proto=https" in seen["forwarded"]
    plain = httpx.get(f"http://127.0.0.1:{http}/", timeout=5)  # the HTTP port keeps working
    assert plain.status_code == 200 and json.loads(plain.text)["x-forwarded-proto"] == "http"
    assert "Strict-Transport-Security" not in got.headers  # HSTS is opt-in
    context = ssl.create_default_context(cadata=ca.pem)
    context.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", https), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="app.test") as tls,
    ):
        assert tls.selected_alpn_protocol() == "h2"


def test_tls_1_0_and_1_1_are_refused(proxy: HAProxy, app: int, ca: CA) -> None:  # noqa: F811
    https = free_port()
    proxy.sync(layout(app, Tls(https), pem_of(ca, "app.test"), free_port()))
    assert handshake(https, ssl.TLSVersion.TLSv1, ca) == REFUSED
    assert handshake(https, ssl.TLSVersion.TLSv1_1, ca) == REFUSED
    assert handshake(https, ssl.TLSVersion.TLSv1_2, ca) == "TLSv1.2"
    assert handshake(https, ssl.TLSVersion.TLSv1_3, ca) == "TLSv1.3"


def test_a_minimum_of_1_3_refuses_1_2(proxy: HAProxy, app: int, ca: CA) -> None:  # noqa: F811
    https = free_port()
    proxy.sync(layout(app, Tls(https, min_version="1.3"), pem_of(ca, "app.test"), free_port()))
    assert handshake(https, ssl.TLSVersion.TLSv1_2, ca) == REFUSED
    assert handshake(https, ssl.TLSVersion.TLSv1_3, ca) == "TLSv1.3"


def test_redirect_308_and_hsts(proxy: HAProxy, app: int, ca: CA) -> None:  # noqa: F811
    http, https = free_port(), free_port()
    tls = Tls(https, redirect=True, hsts=Hsts(600, include_subdomains=True))
    proxy.sync(layout(app, tls, pem_of(ca, "app.test"), http))
    moved = httpx.get(
        f"http://127.0.0.1:{http}/notes?page=2", headers={"Host": f"app.test:{http}"}, timeout=5
    )
    assert moved.status_code == 308
    assert moved.headers["location"] == f"https://app.test:{https}/notes?page=2"
    with httpx.Client(verify=ssl.create_default_context(cadata=ca.pem), timeout=5) as client:
        got = client.get(f"https://127.0.0.1:{https}/", extensions={"sni_hostname": "app.test"})
    assert got.status_code == 200
    assert got.headers["strict-transport-security"] == "max-age=600; includeSubDomains"


def served_names(port: int, ca: CA) -> list[str]:
    context = ssl.create_default_context(cadata=ca.pem)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="app.test") as tls,
    ):
        cert = tls.getpeercert() or {}
    names: Any = cert.get("subjectAltName", ())
    return [value for kind, value in names if kind == "DNS"]


def test_a_new_certificate_is_swapped_in_without_a_reload(proxy: HAProxy, app: int, ca: CA) -> None:  # noqa: F811
    https = free_port()
    first = layout(app, Tls(https), pem_of(ca, "app.test"), free_port())
    proxy.sync(first)
    worker = proxy._worker_pid()
    assert served_names(https, ca) == ["app.test"]
    proxy.sync(
        replace(
            first, backends=(replace(first.backends[0], certificate=pem_of(ca, "app.test", "www.app.test")),)
        )
    )
    assert served_names(https, ca) == ["app.test", "www.app.test"]
    assert proxy._worker_pid() == worker  # the runtime API, no reload


def test_a_mismatched_key_is_refused(proxy: HAProxy, app: int, ca: CA, tmp_path: Path) -> None:  # noqa: F811
    http, https = free_port(), free_port()
    good = ca.issue("app.test")
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "cert.pem").write_text(good.cert)
    spec = parse_manifest(
        {
            "app": "demo",
            "processes": {"web": {"command": "x --port $PORT"}},
            "environments": {
                "dev": {
                    "port": http,
                    "edge": {
                        "https_port": https,
                        "domains": ["app.test"],
                        "tls": {"cert": "cert.pem", "key_secret": "TLS_KEY"},
                    },
                }
            },
        }
    )
    step = CertificateFiles()
    pems = step.certificates(spec, folder, Secrets({"TLS_KEY": good.key}))
    proxy.sync(layout(app, Tls(https), pems["dev"], http))
    (folder / "cert.pem").write_text(ca.issue("app.test").cert)  # a new chain, the old key
    with pytest.raises(ManifestError) as caught:
        step.certificates(spec, folder, Secrets({"TLS_KEY": good.key}))
    assert (
        "environments.dev.edge.tls: the private key does not belong to the certificate"
        in caught.value.message
    )
    assert (tmp_path / "cert-dev.pem").read_text() == pems["dev"].text
    assert served_names(https, ca) == ["app.test"]


def test_an_adopted_haproxy_gets_a_new_certificate(tmp_path: Path, app: int, ca: CA) -> None:  # noqa: F811
    https = free_port()
    first = layout(app, Tls(https), pem_of(ca, "app.test"), free_port())
    HAProxy(tmp_path, find_haproxy()).sync(first)  # a control plane that then dies
    adopter = HAProxy(tmp_path, find_haproxy())
    try:
        worker = adopter._worker_pid()
        renewed = replace(first.backends[0], certificate=pem_of(ca, "app.test", "new.app.test"))
        adopter.sync(replace(first, backends=(renewed,)))
        assert served_names(https, ca) == ["app.test", "new.app.test"]
        assert adopter._worker_pid() == worker  # adopted: no reload
    finally:
        adopter.stop()


def test_turning_tls_off_removes_the_key_file(proxy: HAProxy, app: int, ca: CA, tmp_path: Path) -> None:  # noqa: F811
    http = free_port()
    proxy.sync(layout(app, Tls(free_port()), pem_of(ca, "app.test"), http))
    assert (tmp_path / "cert-dev.pem").exists()
    proxy.sync(ProxyLayout((backend(EdgeRules(), None, f"127.0.0.1:{app}", f"127.0.0.1:{http}"),)))
    assert not (tmp_path / "cert-dev.pem").exists()
    assert httpx.get(f"http://127.0.0.1:{http}/", timeout=5).status_code == 200
