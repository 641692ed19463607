"""What ``shipyard certs`` asks of the engine: each HTTPS listener's certificate (names, issuer,
expiry, the last check of its files or the last ACME order) and a renewal by hand.

Called by ``server/certs.py``; started and stopped by ``Engine`` (the ACME renewal loop). A
renewal of a certificate from files reads shipyard.yaml, the chain and the key again, checks
them (a bad one is refused and the last good one keeps serving) and gives a new one to HAProxy
over its runtime API (``Context.sync_proxy``), with no reload; one from ACME is ordered now
(``engine/certs/acme.py``).
"""

from __future__ import annotations

from typing import Any

from shipyard.drivers.loops import Task
from shipyard.engine.certs.acme import AcmeRenewal
from shipyard.engine.context import Context
from shipyard.errors import NotFoundError


class Certificates:
    def __init__(self, ctx: Context, acme: AcmeRenewal | None = None) -> None:
        self.ctx = ctx
        self.acme = acme

    def loops(self) -> list[Task]:
        return self.acme.loops() if self.acme else []

    def start(self) -> None:
        if self.acme is not None:
            self.acme.loop.start()

    def stop(self) -> None:
        if self.acme is not None:
            self.acme.loop.stop()

    def listing(self, envs: list[str]) -> list[dict[str, Any]]:
        """The certificate of each of ``envs`` that has an HTTPS listener."""
        tls = self._tls_envs()
        return [self._describe(env) for env in envs if env in tls]

    def renew(self, env: str) -> dict[str, Any]:
        """Read ``env``'s chain and key again, or order its ACME certificate, and serve it."""
        self.ctx.reload_manifest()
        if env not in self._tls_envs():
            raise NotFoundError(
                f"environment {env} has no HTTPS listener",
                f"set environments.{env}.edge.tls and https_port in shipyard.yaml",
            )
        if self._acme(env) and self.acme is not None:
            self.ctx.sync_proxy()  # the challenge route of a newly added listener, first
            self.acme.renew(env)  # CertificateError when the order fails (recorded)
        else:
            self.ctx.check_certificates()  # ManifestError when the new files fail (nothing changes)
            self.ctx.sync_proxy()
        return self._describe(env)

    def expires_in(self, env: str, now: float) -> float | None:
        """Seconds until ``env``'s served certificate expires (``cert_expires_in``)."""
        if self._acme(env):
            return self.ctx.issued.expires_in(env, now)
        return self.ctx.certificates.expires_in(env, now)

    def _describe(self, env: str) -> dict[str, Any]:
        return self.ctx.issued.describe(env) if self._acme(env) else self.ctx.certificates.describe(env)

    def _acme(self, env: str) -> bool:
        spec = self.ctx.manifest.environments.get(env)
        return spec is not None and spec.edge.acme is not None

    def _tls_envs(self) -> list[str]:
        return sorted(e for e, spec in self.ctx.manifest.environments.items() if spec.edge.tls is not None)
