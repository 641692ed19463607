"""TLS from files end to end: the real CLI, control plane, vault and HAProxy in front of the example
app. The key goes into the vault, the chain into a file beside shipyard.yaml; a deployment serves
HTTPS verified against the test CA (the plain port keeps working); a deployment whose certificate
does not match its key is refused before it begins, naming the key path, and the last good
certificate keeps serving; the key is written nowhere in the home but HAProxy's 0600 PEM file."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from tests.integration.conftest import Shipyard
from tests.integration.ports import free_port
from tests.unit.ca import CA

pytestmark = pytest.mark.integration


def served(port: int, ca: CA) -> tuple[int, httpx.Response]:
    """The serial number of the certificate HTTPS serves (verified against ``ca``), and an answer."""
    context = ssl.create_default_context(cadata=ca.pem)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="app.test") as tls,
    ):
        der = tls.getpeercert(binary_form=True) or b""
    with httpx.Client(verify=context, timeout=5, trust_env=False) as client:
        got = client.get(f"https://127.0.0.1:{port}/", extensions={"sni_hostname": "app.test"})
    return x509.load_der_x509_certificate(der).serial_number, got


def test_a_deployment_serves_https_and_a_bad_certificate_is_refused(shipyard: Shipyard) -> None:
    ca, https = CA(), free_port()
    good = ca.issue("app.test")
    shipyard.up()
    shipyard.cli("secrets", "set", "dev", "TLS_KEY", input=good.key)
    (shipyard.app / "cert.pem").write_text(good.cert)
    shipyard.manifest["environments"]["dev"]["edge"] = {
        "https_port": https,
        "domains": ["app.test"],
        "tls": {"cert": "cert.pem", "key_secret": "TLS_KEY", "hsts": {"max_age": "1d"}},
    }
    shipyard.write_manifest()
    shipyard.cli("deploy")
    serial, answer = served(https, ca)
    assert serial == ca.last_serial and answer.status_code == 200
    assert answer.headers["strict-transport-security"] == "max-age=86400"
    assert shipyard.serving()  # the plain HTTP port keeps serving

    listed = shipyard.cli("certs", "list").stdout
    assert "dev" in listed and "app.test" in listed and "CN=Shipyard Test Root" in listed

    (shipyard.app / "cert.pem").write_text(ca.issue("app.test").cert)  # a chain without its key
    refused = shipyard.cli("deploy", check=False)
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert "environments.dev.edge.tls: the private key does not belong to the certificate" in said
    assert served(https, ca)[0] == serial  # the last good one keeps serving
    assert "last check failed: environments.dev.edge.tls" in shipyard.cli("certs", "list").stdout

    renewed = ca.issue("app.test", "www.app.test")  # renewed by hand: a new chain and key
    shipyard.cli("secrets", "set", "dev", "TLS_KEY", input=renewed.key)
    (shipyard.app / "cert.pem").write_text(renewed.cert)
    said = shipyard.cli("certs", "renew", "dev").stdout
    assert "app.test, www.app.test" in said and "last check failed" not in said
    assert served(https, ca)[0] == ca.last_serial  # swapped in (HAProxy's runtime API)

    key_text = renewed.key.strip().splitlines()[1]
    holders = [
        p for p in Path(shipyard.home).rglob("*") if p.is_file() and key_text in p.read_text(errors="replace")
    ]
    assert [p.name for p in holders] == ["cert-dev.pem"]
    assert holders[0].stat().st_mode & 0o777 == 0o600
