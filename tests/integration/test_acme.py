"""Certificates from ACME end to end: the real CLI, control plane, vault and HAProxy in front of
the example app, and Debian's pebble as the CA (``pebble_rig.py``). The renewal loop issues the
first certificate by itself through HAProxy's HTTP-01 route (with the HTTP->HTTPS redirect on);
HTTPS is verified against pebble's root; a renewal swaps a new certificate with no reload (the
same HAProxy worker) and no failed request under load; the ACME server down is a clear error,
recorded as the last attempt with a next try, while the old certificate keeps serving; a restart
serves the stored certificate without ordering again."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from tests.integration.conftest import Shipyard
from tests.integration.pebble_rig import Pebble
from tests.integration.ports import free_port
from tests.integration.test_edge_proxy import app, proxy  # noqa: F401 - fixtures; tests: F811
from tests.unit.ca import CA
from tests.unit.test_edge_rules import backend

from shipyard.core.edge import EdgeRules, Maintenance, RateLimit
from shipyard.core.proxy_layout import ProxyLayout
from shipyard.core.tls import Pem, Tls
from shipyard.drivers.proxy.haproxy import HAProxy
from shipyard.errors import ProxyError

pytestmark = pytest.mark.integration


@pytest.fixture
def pebble(shipyard: Shipyard, tmp_path: Path) -> Iterator[Pebble]:
    rig = Pebble(tmp_path, http_port=shipyard.port)  # pebble validates on the environment's HTTP port
    try:
        yield rig
    finally:
        rig.close()


def served(port: int, root: str) -> x509.Certificate:
    """The certificate HTTPS serves for app.test, verified against ``root``."""
    context = ssl.create_default_context(cadata=root)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="app.test") as tls,
    ):
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True) or b"")


def wait_issued(port: int, root: str, timeout: float = 20) -> x509.Certificate:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return served(port, root)
        except (ssl.SSLError, OSError):  # the placeholder until the first issue
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def worker_pid(shipyard: Shipyard) -> str:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(shipyard.home / "proxy" / "admin.sock"))
        sock.sendall(b"show info\n")
        text = b"".join(iter(lambda: sock.recv(65536), b"")).decode()
    return next(ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("Pid:"))


class HttpsLoad:
    """A new TLS connection per request (each one sees the certificate served then)."""

    def __init__(self, port: int, root: str) -> None:
        self.context = ssl.create_default_context(cadata=root)
        self.url = f"https://127.0.0.1:{port}/"
        self.ok = 0
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HttpsLoad:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            with httpx.Client(verify=self.context, timeout=5, trust_env=False) as client:
                try:
                    got = client.get(self.url, extensions={"sni_hostname": "app.test"})
                    self.ok += got.status_code == 200
                    self.failed += [] if got.status_code == 200 else [str(got.status_code)]
                except httpx.HTTPError as exc:
                    self.failed.append(repr(exc))


def test_acme_issues_renews_without_reload_and_survives_a_down_server(
    shipyard: Shipyard, pebble: Pebble
) -> None:
    https = free_port()
    shipyard.manifest["environments"]["dev"]["edge"] = {
        "https_port": https,
        "domains": ["app.test"],
        "tls": {
            "acme": {"directory": pebble.directory, "email": "ops@app.test", "ca_bundle": str(pebble.bundle)},
            "redirect": True,  # the challenge path is exempt
        },
    }
    shipyard.write_manifest()
    shipyard.up()
    shipyard.cli("deploy")
    root = pebble.roots()
    first = wait_issued(https, root)  # the renewal loop's first order, by itself
    assert "Pebble" in first.issuer.rfc4514_string()
    plain = httpx.get(f"http://127.0.0.1:{shipyard.port}/", timeout=5)
    assert plain.status_code == 308  # everything else is redirected
    listed = shipyard.cli("certs", "list").stdout
    assert "app.test  from acme" in listed and "Pebble" in listed and "last check failed" not in listed

    pid = worker_pid(shipyard)
    with HttpsLoad(https, root) as load:
        time.sleep(0.5)
        shipyard.cli("certs", "renew", "dev")
        time.sleep(0.5)
    second = served(https, root)
    assert second.serial_number != first.serial_number  # swapped in
    assert worker_pid(shipyard) == pid  # over the runtime API: no reload
    assert load.ok > 10 and load.failed == []

    pebble.stop()  # the ACME server down
    refused = shipyard.cli("certs", "renew", "dev", check=False)
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert f"the ACME server {pebble.directory} cannot be reached" in said and "Try:" in said
    assert served(https, root).serial_number == second.serial_number  # the old one keeps serving
    listed = shipyard.cli("certs", "list").stdout
    assert "last check failed: the ACME server" in listed and "next try" in listed

    shipyard.cli("down")  # a restart serves the stored certificate: no order (pebble is down)
    shipyard.up()
    assert wait_issued(https, root).serial_number == second.serial_number


def test_haproxy_answers_a_challenge_past_the_redirect_maintenance_and_rate_limits(
    proxy: HAProxy,  # noqa: F811
    app: int,  # noqa: F811
) -> None:
    http, https = free_port(), free_port()
    rules = EdgeRules(tls=Tls(https, redirect=True, acme=True), rate_limits=(RateLimit(1, 30.0),))
    be = backend(rules, Maintenance(), f"127.0.0.1:{app}", f"127.0.0.1:{http}")
    issued = CA().issue("app.test")
    proxy.sync(ProxyLayout((replace(be, certificate=Pem(issued.cert + issued.key)),)))
    pid = worker_pid_of(proxy)
    url = f"http://127.0.0.1:{http}/.well-known/acme-challenge"
    with httpx.Client(timeout=5, trust_env=False) as client:
        assert client.get(f"{url}/tok_1-A").status_code == 308  # no such challenge: redirected
        proxy.publish_challenge("tok_1-A", "tok_1-A.thumb-print_9")
        answers = [client.get(f"{url}/tok_1-A") for _ in range(3)]  # over the limit of 1
        assert [(a.status_code, a.text) for a in answers] == [(200, "tok_1-A.thumb-print_9")] * 3
        proxy.withdraw_challenge("tok_1-A")
        assert client.get(f"{url}/tok_1-A").status_code == 308
        proxy.withdraw_challenge("tok_1-A")  # twice: harmless
    assert worker_pid_of(proxy) == pid  # the runtime API: no reload
    with pytest.raises(ProxyError, match="not base64url"):
        proxy.publish_challenge("tok en", "x; shutdown sessions")


def test_a_pending_challenge_outlives_a_reload_and_a_withdrawn_one_does_not(
    proxy: HAProxy,  # noqa: F811
    app: int,  # noqa: F811
) -> None:
    """A configuration change in the middle of an order reloads HAProxy, which reads its maps
    from their files: the pending challenge must be in the file, not only in the old worker."""
    http, https = free_port(), free_port()
    issued = CA().issue("app.test")
    rules = EdgeRules(tls=Tls(https, redirect=True, acme=True))
    be = backend(rules, Maintenance(), f"127.0.0.1:{app}", f"127.0.0.1:{http}")
    be = replace(be, certificate=Pem(issued.cert + issued.key))
    proxy.sync(ProxyLayout((be,)))
    proxy.publish_challenge("tok_2-B", "tok_2-B.print")
    proxy.publish_challenge("tok_3-C", "tok_3-C.print")
    proxy.withdraw_challenge("tok_3-C")
    url = f"http://127.0.0.1:{http}/.well-known/acme-challenge"

    def reload_with(limit: RateLimit) -> None:  # a new structure: a reload, a new worker
        pid = worker_pid_of(proxy)
        proxy.sync(ProxyLayout((replace(be, edge=replace(rules, rate_limits=(limit,))),)))
        assert wait_for_new_worker(proxy, pid)

    reload_with(RateLimit(100, 10.0))
    with httpx.Client(timeout=5, trust_env=False) as client:
        got = client.get(f"{url}/tok_2-B")
        assert (got.status_code, got.text) == (200, "tok_2-B.print")
        assert client.get(f"{url}/tok_3-C").status_code == 308  # withdrawn before: not back
        proxy.withdraw_challenge("tok_2-B")
        reload_with(RateLimit(200, 10.0))
        assert client.get(f"{url}/tok_2-B").status_code == 308


def wait_for_new_worker(driver: HAProxy, old: str, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while worker_pid_of(driver) == old:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def worker_pid_of(driver: HAProxy) -> str:
    info = driver.command("show info").splitlines()
    return next(ln.split(":", 1)[1].strip() for ln in info if ln.startswith("Pid:"))
