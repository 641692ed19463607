"""The certificates of the ``tls: acme`` environments that HAProxy serves, and each one's last
ACME attempt.

Kept in ``Context`` (so ``sync_proxy`` serves them) and filled by ``engine/certs/acme.py``. At the
first sync of a control plane, an environment's certificate is read from the vault (an audited
read, so a restart does not order again); with none yet, a self-signed placeholder lets HAProxy
start its HTTPS listener until the first issue.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shipyard.core.config import SecretSource
from shipyard.core.tls import CertFacts, Pem
from shipyard.drivers.certs.x509 import read_facts, self_signed
from shipyard.manifest.models import Manifest

CHAIN, CERT_KEY, ACCOUNT_KEY = "CERT_CHAIN", "CERT_KEY", "ACCOUNT_KEY"  # names in the vault space
RENEW_BEFORE_S = 30 * 86_400  # renew 30 days before expiry
STORED = "the HTTPS certificate issued by ACME"


def vault_space(env: str) -> str:
    """The vault namespace of ``env``'s ACME keys: no environment can be named so (a dot)."""
    return f"acme.{env}"


@dataclass(frozen=True)
class Served:
    pem: Pem
    facts: CertFacts
    placeholder: bool  # self-signed, until the first issue


@dataclass(frozen=True)
class Attempt:
    at: float
    error: str  # "" when it succeeded
    next_try: float | None  # when the renewal loop tries again after a failure


class IssuedCertificates:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._served: dict[str, Served] = {}
        self._attempts: dict[str, Attempt] = {}

    def certificates(self, manifest: Manifest, secrets: SecretSource) -> dict[str, Pem]:
        """Each ``tls: acme`` environment's PEM: issued, stored, or a placeholder."""
        out: dict[str, Pem] = {}
        for env in acme_envs(manifest):
            with self._lock:
                if env not in self._served:
                    domains = manifest.environments[env].edge.domains
                    self._served[env] = _stored(env, secrets) or _placeholder(domains)
                out[env] = self._served[env].pem
        return out

    def serve(self, env: str, pem: Pem, facts: CertFacts) -> None:
        with self._lock:
            self._served[env] = Served(pem, facts, placeholder=False)

    def record(self, env: str, error: str, next_try: float | None = None) -> None:
        self._attempts[env] = Attempt(self.clock(), error, next_try)

    def attempt(self, env: str) -> Attempt | None:
        return self._attempts.get(env)

    def due(self, env: str, domains: tuple[str, ...], now: float) -> bool:
        """Whether ``env`` needs an order now: a placeholder, other names, or 30 days left."""
        served = self._served.get(env)
        if served is None or served.placeholder or set(domains) - set(served.facts.names):
            return True
        return served.facts.not_after - now <= RENEW_BEFORE_S

    def expires_in(self, env: str, now: float) -> float | None:
        served = self._served.get(env)
        return None if served is None or served.placeholder else served.facts.not_after - now

    def describe(self, env: str) -> dict[str, Any]:
        """What ``shipyard certs list`` shows: names, issuer, expiry, the last ACME attempt."""
        served = self._served.get(env)
        real = served is not None and not served.placeholder
        attempt = self._attempts.get(env)
        return {
            "env": env,
            "source": "acme",
            "names": list(served.facts.names) if served and real else [],
            "issuer": served.facts.issuer if served and real else "(placeholder: not issued yet)",
            "expires_at": served.facts.not_after if served and real else None,
            "last_attempt": attempt.at if attempt else None,
            "last_error": attempt.error if attempt else "",
            "next_try": attempt.next_try if attempt else None,
        }


def acme_envs(manifest: Manifest) -> list[str]:
    return sorted(e for e, spec in manifest.environments.items() if spec.edge.acme is not None)


def _stored(env: str, secrets: SecretSource) -> Served | None:
    values = secrets.values(vault_space(env), STORED)
    chain, key = values.get(CHAIN), values.get(CERT_KEY)
    if not chain or not key:
        return None
    try:
        facts = read_facts(chain, key)
    except ValueError:
        return None  # unreadable: ordered again, as if none were stored
    return Served(Pem(chain.strip() + "\n" + key.strip() + "\n"), facts, placeholder=False)


def _placeholder(domains: tuple[str, ...]) -> Served:
    cert, key = self_signed(domains)
    return Served(Pem(cert + key), read_facts(cert, key), placeholder=True)
