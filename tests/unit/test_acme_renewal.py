"""Certificates from ACME, pure and engine parts: the manifest's `tls: acme` (and what it refuses),
the challenge route's place in the frontend, and the renewal over fakes of HAProxy and the CA
(an order only when due, the keys kept in the vault's `acme.<env>` space, a failure recorded
with its hint and backed off while the served certificate stays); the ACME client's faults (a
server down, a 429) as errors with hints, against real sockets."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tests.unit.ca import CA
from tests.unit.fakes import FakeProber, FakeProxy
from tests.unit.test_edge_rules import MAPS, backend
from tests.unit.test_engine_fakes import make_ctx

from shipyard.core.edge import EdgeRules
from shipyard.core.proxy import render_haproxy_config
from shipyard.core.proxy_layout import ProxyLayout
from shipyard.core.tls import Tls
from shipyard.core.vault import Secret
from shipyard.drivers.certs import acme_client
from shipyard.engine.certs.acme import AcmeRenewal
from shipyard.engine.certs.issued import ACCOUNT_KEY, CERT_KEY, CHAIN
from shipyard.engine.trust.access import Access
from shipyard.engine.trust.vault import Vault as VaultService
from shipyard.errors import CertificateError, ManifestError
from shipyard.manifest.edge import LETS_ENCRYPT
from shipyard.manifest.loader import parse_manifest
from shipyard.manifest.models import Vault as VaultSettings
from shipyard.state.store import open_store

DAY = 86_400.0


def manifest(tls: object = "acme", **edge: Any) -> dict[str, Any]:
    spec = {"https_port": 8443, "domains": ["app.test"], "tls": tls, **edge}
    return {
        "app": "demo",
        "processes": {"web": {"command": "x --port $PORT"}},
        "environments": {"dev": {"port": 8080, "edge": spec}},
    }


def refused(data: dict[str, Any]) -> str:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(data)
    return caught.value.message


def test_tls_acme_is_lets_encrypt_and_answers_challenges() -> None:
    spec = parse_manifest(manifest())
    assert spec.environments["dev"].edge.acme is not None
    assert spec.environments["dev"].edge.acme.directory == LETS_ENCRYPT
    assert spec.edge_rules("dev").tls == Tls(8443, acme=True)
    other = {"acme": {"directory": "https://ca.test/dir", "email": "ops@app.test"}, "redirect": True}
    acme = parse_manifest(manifest(other)).environments["dev"].edge.acme
    assert acme is not None and acme.directory == "https://ca.test/dir" and acme.email == "ops@app.test"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (manifest({"acme": {}, "cert": "c.pem", "key_secret": "K"}), "or as `acme` (issued automatically)"),
        (manifest({"redirect": True}), "give the certificate as `cert` and `key_secret`"),
        (manifest({"cert": "c.pem"}), "give the certificate as `cert` and `key_secret`"),
        (manifest(domains=[]), "`tls: acme` needs `domains`"),
        (manifest(domains=["*.app.test"]), "issues no `*.` names"),
        (manifest({"acme": {"directory": "http://ca.test/dir"}}), "environments.dev.edge.tls.acme.directory"),
    ],
)
def test_bad_acme_keys_are_refused_with_their_path(data: dict[str, Any], message: str) -> None:
    assert message in refused(data)


def test_a_domain_claimed_by_two_environments_is_refused() -> None:
    data = manifest()
    data["environments"]["prod"] = {"port": 8081, "edge": {"domains": ["www.app.test", "app.test"]}}
    assert "environments dev and prod both claim the domain app.test" in refused(data)


def test_the_challenge_route_comes_before_the_redirect_and_every_other_rule() -> None:
    rules = EdgeRules(tls=Tls(8443, redirect=True, acme=True), deny=("10.0.0.0/8",))
    lines = render_haproxy_config(ProxyLayout((backend(rules),)), "/run/admin.sock", None, MAPS).splitlines()
    first = next(i for i, ln in enumerate(lines) if ln.startswith("    http-request"))
    assert lines[first] == (
        '    http-request return status 200 content-type text/plain lf-string "%[path,field(4,/),'
        'map(/run/acme-challenges.map)]" if { path_beg /.well-known/acme-challenge/ } '
        "{ path,field(4,/),map(/run/acme-challenges.map) -m found }"
    )
    files = render_haproxy_config(ProxyLayout((backend(EdgeRules(tls=Tls(8443))),)), "/s", None, MAPS)
    assert "acme-challenge" not in files  # certificates from files: no challenge route


class Vault:
    """The vault's runtime read and system write, by namespace."""

    def __init__(self) -> None:
        self.spaces: dict[str, dict[str, str]] = {}
        self.writes: list[tuple[str, list[str], str]] = []

    def values(self, env: str, purpose: str = "", actor: str = "runtime") -> Mapping[str, str]:
        return dict(self.spaces.get(env, {}))

    def value(self, env: str, name: str, purpose: str, actor: str = "runtime") -> str | None:
        return self.spaces.get(env, {}).get(name)

    def versions(self, env: str) -> Mapping[str, int]:
        return {name: 1 for name in self.spaces.get(env, {})}

    def keep(self, space: str, values: Mapping[str, Secret], purpose: str) -> None:
        self.spaces.setdefault(space, {}).update({n: v.reveal() for n, v in values.items()})
        self.writes.append((space, sorted(values), purpose))


class FakeCA:
    """Answers orders like an ACME server: publishes a challenge, then issues (or fails)."""

    def __init__(self) -> None:
        self.ca, self.orders, self.days = CA(), 0, 90.0
        self.fail: CertificateError | None = None

    def issue(self, order: acme_client.AcmeOrder, account: str, key: str, publish: Any, withdraw: Any) -> str:
        self.orders += 1
        publish(f"token{self.orders}", f"token{self.orders}.thumb")
        withdraw(f"token{self.orders}")
        if self.fail is not None:
            raise self.fail
        return self.ca.issue(*order.names, days=self.days, key_text=key).cert


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[AcmeRenewal, FakeCA, Vault, list[float]]]:
    now = [time.time()]  # the CA signs from the real time
    vault, ca = Vault(), FakeCA()
    ctx = make_ctx(tmp_path, FakeProber())  # over fakes of the drivers
    ctx.manifest = parse_manifest(manifest({"acme": {"directory": "https://ca.test/dir"}}))
    ctx.secrets = vault
    ctx.proxy.running = True  # type: ignore[attr-defined]
    yield AcmeRenewal(ctx, vault.keep, ca.issue, clock=lambda: now[0]), ca, vault, now
    ctx.store.close()


def served_text(renewal: AcmeRenewal) -> str:
    proxy = renewal.ctx.proxy
    assert isinstance(proxy, FakeProxy)
    cert = proxy.layouts[-1].backends[0].certificate
    assert cert is not None
    return cert.text


def test_the_first_run_orders_keeps_the_keys_in_the_vault_and_serves_the_chain(rig: Any) -> None:
    renewal, ca, vault, _ = rig
    renewal.ctx.sync_proxy()  # before the first order: a self-signed placeholder
    placeholder = served_text(renewal)
    assert renewal.ctx.issued.describe("dev")["issuer"].startswith("(placeholder")
    renewal.run_once()
    assert ca.orders == 1 and renewal.ctx.proxy.challenges == {}  # published, then withdrawn
    assert [w[:2] for w in vault.writes] == [("acme.dev", [ACCOUNT_KEY]), ("acme.dev", [CHAIN, CERT_KEY])]
    stored = vault.spaces["acme.dev"]
    assert served_text(renewal) == stored[CHAIN].strip() + "\n" + stored[CERT_KEY].strip() + "\n"
    assert served_text(renewal) != placeholder
    listed = renewal.ctx.issued.describe("dev")
    assert listed["names"] == ["app.test"] and "Shipyard Test Root" in listed["issuer"]
    assert listed["last_error"] == "" and listed["next_try"] is None
    renewal.run_once()
    assert ca.orders == 1  # 90 days left: not due


def test_an_order_is_due_30_days_before_expiry_and_reuses_the_account(rig: Any) -> None:
    renewal, ca, vault, now = rig
    renewal.run_once()
    account = vault.spaces["acme.dev"][ACCOUNT_KEY]
    now[0] += 57 * DAY  # 32 days left (issued a day back for 90)
    renewal.run_once()
    assert ca.orders == 1
    now[0] += 3 * DAY  # 29 days left
    renewal.run_once()
    assert ca.orders == 2 and vault.spaces["acme.dev"][ACCOUNT_KEY] == account


def test_a_failed_order_is_recorded_backed_off_and_the_old_certificate_stays(rig: Any) -> None:
    renewal, ca, _, now = rig
    renewal.run_once()
    good = served_text(renewal)
    now[0] += 80 * DAY
    ca.fail = CertificateError("the ACME server x rate-limits this account", "wait for the window")
    renewal.run_once()  # the loop records it and goes on
    listed = renewal.ctx.issued.describe("dev")
    assert listed["last_error"] == "the ACME server x rate-limits this account (try: wait for the window)"
    assert listed["next_try"] == now[0] + 60 and renewal.failing("dev", now[0]) == 1.0
    assert served_text(renewal) == good
    now[0] += 30
    renewal.run_once()
    assert ca.orders == 2  # backing off
    now[0] += 31
    with pytest.raises(CertificateError):
        renewal.renew("dev")  # by hand: tried at once, and backed off further
    assert renewal.ctx.issued.describe("dev")["next_try"] == now[0] + 120
    ca.fail = None
    renewal.renew("dev")
    assert renewal.failing("dev", now[0]) == 0.0 and served_text(renewal) != good
    assert renewal.ctx.issued.describe("dev")["last_error"] == ""


def test_no_order_before_haproxy_runs(rig: Any) -> None:
    renewal, ca, _, _ = rig
    renewal.ctx.proxy.running = False
    renewal.run_once()
    assert ca.orders == 0


class Refusing(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"type": acme_client.RATE_LIMITED, "detail": "too many certificates this week"})
        self.send_response(429)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *_: object) -> None:
        pass


@contextmanager
def socket_bound() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def order(directory: str) -> acme_client.AcmeOrder:
    return acme_client.AcmeOrder(directory, None, None, ("app.test",))


def test_a_rate_limiting_server_is_an_error_that_says_to_wait() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/dir"
    key = acme_client.new_key_pem()
    try:
        with pytest.raises(CertificateError) as caught:
            acme_client.issue(order(url), key, key, lambda t, a: None, lambda t: None)
    finally:
        server.shutdown()
    assert caught.value.message == f"the ACME server {url} rate-limits this account or these names: " + (
        "too many certificates this week"
    )
    assert "wait for the limit's window" in caught.value.hint and key not in str(caught.value)


def test_a_server_that_is_down_is_an_error_that_keeps_the_certificate() -> None:
    with socket_bound() as port:  # bound, never listening: the connection is refused
        url = f"http://127.0.0.1:{port}/dir"
        with pytest.raises(CertificateError) as caught:
            key = acme_client.new_key_pem()
            acme_client.issue(order(url), key, key, lambda t, a: None, lambda t: None)
    assert (
        caught.value.message
        == f"the ACME server {url} cannot be reached or answered wrongly (ConnectionError)"
    )
    assert "the current certificate keeps serving" in caught.value.hint


def test_the_vaults_system_write_is_audited_and_kept_apart_from_the_apps_secrets(tmp_path: Path) -> None:
    store = open_store(tmp_path / "state.db")
    vault = VaultService(store, Access(store, lambda: ["dev"]), tmp_path / "master.key", VaultSettings)
    vault.open()
    vault.keep("acme.dev", {ACCOUNT_KEY: Secret("account key text")}, "ACME account key")
    entry = store.audit.entries(env="acme.dev")[-1]
    assert (entry.actor, entry.action, entry.target, entry.source) == (
        "shipyard",
        "secrets.set",
        ACCOUNT_KEY,
        "ACME account key",
    )
    assert vault.values_for("acme.dev", "test") == {ACCOUNT_KEY: "account key text"}
    assert vault.values_for("dev", "an instance's environment") == {}  # never handed to the app
    assert "account key text" not in str(store.audit.entries())
    store.close()
