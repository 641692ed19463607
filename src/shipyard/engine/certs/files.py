"""Certificates from files: each environment's ``edge.tls`` chain (a file) and key (a vault secret),
checked and joined into the PEM the HTTPS listener serves.

Called by ``Engine.deploy`` (a deployment with a bad certificate is refused before it begins) and
by ``Context.sync_proxy`` before it computes the layout, so a certificate that does not match its
key, does not cover the environment's ``domains`` or has expired never reaches HAProxy: it keeps
serving its last good one. The key is read from the
vault (an audited read) only when the chain's text or the secret's version changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from shipyard.core.config import SecretSource
from shipyard.core.tls import CertFacts, Pem, certificate_problem
from shipyard.drivers.certs.x509 import read_facts
from shipyard.errors import ManifestError
from shipyard.manifest.edge import TlsFiles
from shipyard.manifest.models import Manifest

PURPOSE = "the HTTPS listener's private key"


class CertificateFiles:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._known: dict[str, tuple[tuple[str, int], Pem]] = {}  # env -> ((chain, key version), key)
        self._good: dict[str, Pem] = {}  # env -> the last PEM that passed its checks
        self._served: dict[str, CertFacts] = {}  # env -> the certificate it serves
        self._attempts: dict[str, tuple[float, str]] = {}  # env -> (when last checked, its error or "")

    def certificates(
        self, manifest: Manifest, folder: Path, secrets: SecretSource, *, keep_last_good: bool = False
    ) -> dict[str, Pem]:
        """Each TLS environment's PEM (chain then key), checked; ManifestError naming the key path.

        ``keep_last_good``: an environment whose new chain or key fails its checks keeps the last
        one that passed (a rollback or a crash restart must not stop on a bad file), and only an
        environment with none raises."""
        out: dict[str, Pem] = {}
        for env, spec in sorted(manifest.environments.items()):
            tls = spec.edge.tls
            if tls is None or tls.acme is not None:  # none, or ACME's (``issued.py``)
                continue
            try:
                out[env] = self._good[env] = self._pem(env, tls, spec.edge.domains, folder, secrets)
                self._attempts[env] = (self.clock(), "")
            except ManifestError as exc:
                self._attempts[env] = (self.clock(), exc.message)
                if not keep_last_good or env not in self._good:
                    raise
                out[env] = self._good[env]
        return out

    def _pem(
        self, env: str, tls: TlsFiles, domains: tuple[str, ...], folder: Path, secrets: SecretSource
    ) -> Pem:
        where = f"environments.{env}.edge.tls"
        assert tls.cert is not None and tls.key_secret is not None  # the model's check
        path = folder / tls.cert
        try:
            chain = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ManifestError(
                f"{where}.cert: cannot read {path}: {exc.__class__.__name__}",
                "give the path of the certificate chain's PEM file, relative to shipyard.yaml",
            ) from None
        version = secrets.versions(env).get(tls.key_secret)
        if version is None:
            raise ManifestError(
                f"{where}.key_secret: no secret {tls.key_secret} in {env}'s vault",
                f"store the private key with `shipyard secrets set {env} {tls.key_secret} < KEY.pem`",
            )
        known = self._known.get(env)
        if known is not None and known[0] == (chain, version):
            key = known[1]
        else:  # an audited read, only when the chain or the key changed
            key = Pem(secrets.value(env, tls.key_secret, PURPOSE) or "")
        self._served[env] = self._check(where, path, chain, key.text, domains)
        self._known[env] = ((chain, version), key)
        return Pem(chain.strip() + "\n" + key.text.strip() + "\n")

    def expires_in(self, env: str, now: float) -> float | None:
        """Seconds until the certificate ``env`` serves expires (the ``cert_expires_in`` alert
        metric); None without one."""
        served = self._served.get(env)
        return None if served is None else served.not_after - now

    def describe(self, env: str) -> dict[str, Any]:
        """What ``shipyard certs list`` shows of ``env``'s certificate: its names, issuer, expiry
        and the last time its files were checked (with the error, when they failed)."""
        served = self._served.get(env)
        at, error = self._attempts.get(env, (None, ""))
        return {
            "env": env,
            "source": "file",
            "names": list(served.names) if served else [],
            "issuer": served.issuer if served else "",
            "expires_at": served.not_after if served else None,
            "last_attempt": at,
            "last_error": error,
        }

    def _check(self, where: str, path: Path, chain: str, key: str, domains: tuple[str, ...]) -> CertFacts:
        """The certificate's facts, if it may serve; else ManifestError saying why."""
        try:
            facts = read_facts(chain, key)
        except ValueError as exc:
            _refuse(where, path, str(exc))
        problem = certificate_problem(facts, domains, self.clock())
        if problem is not None:
            _refuse(where, path, problem)
        return facts


def _refuse(where: str, path: Path, problem: str) -> NoReturn:
    raise ManifestError(
        f"{where}: {problem} ({path})",
        "give the chain and the key issued together for every name in `edge.domains`, "
        "still valid (`openssl x509 -noout -subject -ext subjectAltName -enddate -in CERT`); "
        "the previous configuration keeps serving",
    )
