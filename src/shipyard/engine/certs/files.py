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

from shipyard.core.config import SecretSource
from shipyard.core.tls import Pem, certificate_problem
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
        self._expires: dict[str, float] = {}  # env -> when the certificate it serves expires

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
            if tls is None:
                continue
            try:
                out[env] = self._good[env] = self._pem(env, tls, spec.edge.domains, folder, secrets)
            except ManifestError:
                if not keep_last_good or env not in self._good:
                    raise
                out[env] = self._good[env]
        return out

    def _pem(
        self, env: str, tls: TlsFiles, domains: tuple[str, ...], folder: Path, secrets: SecretSource
    ) -> Pem:
        where = f"environments.{env}.edge.tls"
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
            key = Pem(secrets.values(env, PURPOSE).get(tls.key_secret, ""))
        self._expires[env] = self._check(where, path, chain, key.text, domains)
        self._known[env] = ((chain, version), key)
        return Pem(chain.strip() + "\n" + key.text.strip() + "\n")

    def expires_in(self, env: str, now: float) -> float | None:
        """Seconds until the certificate ``env`` serves expires (the ``cert_expires_in`` alert
        metric); None without one."""
        expires = self._expires.get(env)
        return None if expires is None else expires - now

    def _check(self, where: str, path: Path, chain: str, key: str, domains: tuple[str, ...]) -> float:
        """When the certificate expires, if it may serve; else ManifestError saying why."""
        expires = 0.0
        try:
            facts = read_facts(chain, key)
            expires, problem = facts.not_after, certificate_problem(facts, domains, self.clock())
        except ValueError as exc:
            problem = str(exc)
        if problem is not None:
            raise ManifestError(
                f"{where}: {problem} ({path})",
                "give the chain and the key issued together for every name in `edge.domains`, "
                "still valid (`openssl x509 -noout -subject -ext subjectAltName -enddate -in CERT`); "
                "the previous configuration keeps serving",
            )
        return expires
