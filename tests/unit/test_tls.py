"""TLS from files, pure parts and the certificate step: the listener's HAProxy lines (bind with
ALPN, minimum version and Mozilla's intermediate ciphers, the 308 redirect, HSTS, the scheme the
app is told), the manifest keys, and the checks that refuse a certificate before anything changes
(a key that is not its pair, another domain, expired) with the key path and a hint."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.unit.ca import CA
from tests.unit.test_edge_rules import MAPS, backend

from shipyard.core.edge import EdgeRules
from shipyard.core.proxy import render_haproxy_config
from shipyard.core.proxy_layout import ProxyLayout
from shipyard.core.tls import CertFacts, Hsts, Pem, Tls, certificate_problem, name_covers
from shipyard.engine.certs.files import CertificateFiles
from shipyard.errors import ManifestError
from shipyard.manifest.loader import parse_manifest

NOW = 1_800_000_000.0


def config(tls: Tls) -> str:
    be = backend(EdgeRules(tls=tls))
    return render_haproxy_config(ProxyLayout((be,)), "/run/admin.sock", None, MAPS)


def test_the_https_bind_has_alpn_the_minimum_version_and_intermediate_ciphers() -> None:
    text = config(Tls(port=8443))
    bind = next(ln for ln in text.splitlines() if "ssl crt" in ln)
    assert bind.startswith("    bind 127.0.0.1:8443 ssl crt /run/cert-dev.pem alpn h2,http/1.1")
    assert "ssl-min-ver TLSv1.2" in bind and "ECDHE-RSA-AES128-GCM-SHA256" in bind
    assert "CBC" not in bind and "RC4" not in bind
    assert "    bind 127.0.0.1:8080" in text.splitlines()  # the HTTP port keeps working
    assert "ssl-min-ver TLSv1.3" in config(Tls(port=8443, min_version="1.3"))


def test_redirect_hsts_and_the_scheme_follow_the_settings() -> None:
    plain = config(Tls(port=8443))
    assert "redirect" not in plain and "Strict-Transport-Security" not in plain
    assert "X-Forwarded-Proto %[ssl_fc,iif(https,http)]" in plain
    text = config(Tls(port=443, redirect=True, hsts=Hsts(600, include_subdomains=True, preload=True)))
    assert (
        "redirect location https://%[req.hdr(host),field(1,:)]%[capture.req.uri] code 308 if !{ ssl_fc }"
        in text
    )
    assert 'Strict-Transport-Security "max-age=600; includeSubDomains; preload" if { ssl_fc }' in text
    assert "field(1,:)]:8443%[" in config(Tls(port=8443, redirect=True))


def test_the_certificate_is_not_part_of_the_shape_and_never_printed() -> None:
    one = backend(EdgeRules(tls=Tls(port=8443)))
    layout = ProxyLayout((replace(one, certificate=Pem("chain and key text: secret")),))
    assert layout.shape() == ProxyLayout((one,)).shape()
    assert "secret" not in repr(layout) and "Pem(sha256:" in repr(layout)


@pytest.mark.parametrize(
    ("pattern", "host", "covers"),
    [
        ("example.com", "example.com", True),
        ("example.com", "EXAMPLE.com.", True),
        ("example.com", "www.example.com", False),
        ("*.example.com", "www.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "a.b.example.com", False),
    ],
)
def test_name_covers(pattern: str, host: str, covers: bool) -> None:
    assert name_covers(pattern, host) is covers


def facts(**changes: Any) -> CertFacts:
    base: dict[str, Any] = {
        "names": ("example.com",),
        "issuer": "CN=x",
        "not_before": NOW - 10,
        "not_after": NOW + 10,
        "key_matches": True,
    }
    return CertFacts(**{**base, **changes})


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({}, None),
        ({"key_matches": False}, "does not belong"),
        ({"not_after": NOW}, "expired"),
        ({"not_before": NOW + 1}, "not valid yet"),
        ({"names": ("other.org",)}, "does not cover example.com (it names other.org)"),
    ],
)
def test_certificate_problems(changes: dict[str, Any], problem: str | None) -> None:
    found = certificate_problem(facts(**changes), ("example.com",), NOW)
    assert found == problem if problem is None else problem in (found or "")


def manifest(**tls: Any) -> dict[str, Any]:
    edge = {
        "https_port": 8443,
        "domains": ["app.test"],
        "tls": {"cert": "cert.pem", "key_secret": "TLS_KEY", **tls},
    }
    return {
        "app": "demo",
        "processes": {"web": {"command": "x --port $PORT"}},
        "environments": {"dev": {"port": 8080, "edge": edge}},
    }


def test_the_manifest_keys_become_the_listener() -> None:
    spec = parse_manifest(manifest(min_version="1.3", redirect=True, hsts={"max_age": "1d", "preload": True}))
    assert spec.edge_rules("dev").tls == Tls(8443, "1.3", True, Hsts(86400, False, True))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"https_port": None}, "`tls` and `https_port` go together"),
        ({"domains": ["bad host"]}, "environments.dev.edge.domains[0]: 'bad host' is not a host name"),
        ({"https_port": 8080}, "both use port 8080"),
    ],
)
def test_bad_tls_keys_are_refused_with_their_path(change: dict[str, Any], message: str) -> None:
    data = manifest()
    data["environments"]["dev"]["edge"].update(change)
    with pytest.raises(ManifestError) as caught:
        parse_manifest(data)
    assert message in caught.value.message


class Secrets:
    """The vault's two reads, counting the value reads (each is an audited read)."""

    def __init__(self, values: dict[str, str]) -> None:
        self.data, self.version, self.reads = values, 1, 0

    def values(self, env: str, purpose: str = "", actor: str = "runtime") -> Mapping[str, str]:
        self.reads += 1
        return dict(self.data)

    def value(self, env: str, name: str, purpose: str, actor: str = "runtime") -> str | None:
        self.reads += 1
        return self.data.get(name)

    def versions(self, env: str) -> Mapping[str, int]:
        return {name: self.version for name in self.data}


def test_the_certificate_step_joins_chain_and_key_and_reads_the_vault_once(tmp_path: Path) -> None:
    ca = CA()
    issued = ca.issue("app.test")
    (tmp_path / "cert.pem").write_text(issued.cert)
    secrets, step = Secrets({"TLS_KEY": issued.key}), CertificateFiles()
    pems = step.certificates(parse_manifest(manifest()), tmp_path, secrets)
    assert pems["dev"].text == issued.cert.strip() + "\n" + issued.key.strip() + "\n"
    step.certificates(parse_manifest(manifest()), tmp_path, secrets)
    assert secrets.reads == 1  # unchanged chain and key version: no second read
    secrets.version = 2
    step.certificates(parse_manifest(manifest()), tmp_path, secrets)
    assert secrets.reads == 2


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda ca: (ca.issue("app.test").cert, ca.other_key()), "private key does not belong"),
        (lambda ca: (lambda c: (c.cert, c.key))(ca.issue("other.test")), "does not cover app.test"),
        (lambda ca: (lambda c: (c.cert, c.key))(ca.issue("app.test", days=1, ago=3)), "has expired"),
        (lambda ca: ("not a certificate", ca.other_key()), "holds no PEM certificate"),
    ],
)
def test_a_bad_certificate_is_refused_with_its_key_path(tmp_path: Path, make: Any, message: str) -> None:
    cert, key = make(CA())
    (tmp_path / "cert.pem").write_text(cert)
    with pytest.raises(ManifestError) as caught:
        CertificateFiles(time.time).certificates(
            parse_manifest(manifest()), tmp_path, Secrets({"TLS_KEY": key})
        )
    assert caught.value.message.startswith("environments.dev.edge.tls: ")
    assert message in caught.value.message and str(tmp_path / "cert.pem") in caught.value.message
    assert "PRIVATE KEY" not in caught.value.message and "openssl x509" in caught.value.hint


def test_a_missing_key_secret_says_how_to_store_it(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text(CA().issue("app.test").cert)
    with pytest.raises(ManifestError) as caught:
        CertificateFiles().certificates(parse_manifest(manifest()), tmp_path, Secrets({}))
    assert "environments.dev.edge.tls.key_secret: no secret TLS_KEY" in caught.value.message
    assert "shipyard secrets set dev TLS_KEY < KEY.pem" in caught.value.hint


def test_a_sync_keeps_the_last_good_certificate_and_a_deployment_is_refused(tmp_path: Path) -> None:
    ca, step = CA(), CertificateFiles()
    good = ca.issue("app.test")
    (tmp_path / "cert.pem").write_text(good.cert)
    secrets, spec = Secrets({"TLS_KEY": good.key}), parse_manifest(manifest())
    first = step.certificates(spec, tmp_path, secrets)
    (tmp_path / "cert.pem").write_text(ca.issue("other.test").cert)
    assert step.certificates(spec, tmp_path, secrets, keep_last_good=True) == first
    with pytest.raises(ManifestError, match="does not belong"):
        step.certificates(spec, tmp_path, secrets)
    with pytest.raises(ManifestError, match="does not belong"):  # no good one yet: refused
        CertificateFiles().certificates(spec, tmp_path, secrets, keep_last_good=True)


def test_cert_expires_in_is_the_served_certificates_remaining_time(tmp_path: Path) -> None:
    ca, step = CA(), CertificateFiles()
    issued = ca.issue("app.test", days=30, ago=1)
    (tmp_path / "cert.pem").write_text(issued.cert)
    assert step.expires_in("dev", time.time()) is None  # nothing served yet
    step.certificates(parse_manifest(manifest()), tmp_path, Secrets({"TLS_KEY": issued.key}))
    left = step.expires_in("dev", time.time())
    assert left is not None and 29 * 86400 - 60 < left <= 29 * 86400
    rule = parse_manifest({**manifest(), "alerts": {}}).alerts.all_rules()["CertificateExpiring"]
    assert rule.spec("CertificateExpiring").condition.holds(13 * 86400.0)
    assert not rule.spec("CertificateExpiring").condition.holds(left)
