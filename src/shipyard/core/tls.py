"""TLS termination at the edge as data: the HTTPS listener's settings, a certificate in memory
(its text never printed) and the checks a certificate must pass before HAProxy gets it.

``manifest/edge.py`` fills ``Tls`` from ``environments.<name>.edge.tls``; ``core/proxy_edge.py``
renders it; ``engine/certs/`` reads the certificate and its key (from the vault), has
``drivers/certs/x509.py`` parse them into ``CertFacts`` and asks ``certificate_problem`` whether
they may serve. Pure, no I/O.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

# Mozilla's "intermediate" configuration (ssl-config.mozilla.org, version 5.7): TLS 1.2 with
# forward-secret AEAD ciphers, and TLS 1.3's suites. The DHE suites are left out (they need a
# DH parameter file); every client the intermediate profile names speaks ECDHE.
CIPHERS_TLS12 = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    )
)
CIPHERSUITES_TLS13 = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
ALPN = "h2,http/1.1"


@dataclass(frozen=True)
class Hsts:
    """The Strict-Transport-Security header HTTPS answers carry."""

    max_age: int = 31_536_000
    include_subdomains: bool = False
    preload: bool = False

    def header(self) -> str:
        extra = "; includeSubDomains" * self.include_subdomains + "; preload" * self.preload
        return f"max-age={self.max_age}{extra}"


@dataclass(frozen=True)
class Tls:
    """An environment's HTTPS listener: its port (beside the HTTP one), the lowest protocol
    version it accepts, whether plain HTTP is redirected (308), the HSTS header, and whether its
    certificate comes from ACME (the HTTP listener then answers HTTP-01 challenges)."""

    port: int
    min_version: str = "1.2"  # "1.2" or "1.3"
    redirect: bool = False
    hsts: Hsts | None = None
    acme: bool = False


@dataclass(frozen=True)
class Pem:
    """A certificate chain and its private key as HAProxy reads them (one PEM text). The text is
    a secret: it is never in a repr, and only the HAProxy driver writes it (a 0600 file) or sends
    it (the runtime API)."""

    text: str = field(repr=False)

    @property
    def digest(self) -> str:
        """A short fingerprint of the text, safe to log and compare."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"Pem(sha256:{self.digest})"


@dataclass(frozen=True)
class CertFacts:
    """What the checks read of a parsed certificate and key (``drivers/certs/x509.py``)."""

    names: tuple[str, ...]  # subjectAltName DNS names (the subject's CN when there are none)
    issuer: str
    not_before: float
    not_after: float
    key_matches: bool  # the private key is the certificate's public key's pair


def name_covers(pattern: str, host: str) -> bool:
    """Whether a certificate name (``example.com`` or ``*.example.com``) covers ``host``."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == host


def certificate_problem(facts: CertFacts, domains: tuple[str, ...], now: float) -> str | None:
    """Why this certificate may not serve ``domains`` at ``now``, or None when it may."""
    if not facts.key_matches:
        return "the private key does not belong to the certificate"
    if now >= facts.not_after:
        return "the certificate has expired"
    if now < facts.not_before:
        return "the certificate is not valid yet"
    missing = [d for d in domains if not any(name_covers(n, d) for n in facts.names)]
    if missing:
        names = ", ".join(facts.names) or "no names"
        return f"the certificate does not cover {', '.join(missing)} (it names {names})"
    return None
