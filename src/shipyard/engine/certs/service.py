"""What ``shipyard certs`` asks of the engine: each HTTPS listener's certificate (names, issuer,
expiry, the last check of its files) and a renewal by hand.

Called by ``server/certs.py``. A renewal of a certificate from files reads shipyard.yaml, the
chain and the key again, checks them (a bad one is refused and the last good one keeps serving)
and gives a new one to HAProxy over its runtime API (``Context.sync_proxy``), with no reload.
"""

from __future__ import annotations

from typing import Any

from shipyard.engine.context import Context
from shipyard.errors import NotFoundError


class Certificates:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def listing(self, envs: list[str]) -> list[dict[str, Any]]:
        """The certificate of each of ``envs`` that has an HTTPS listener."""
        tls = self._tls_envs()
        return [self.ctx.certificates.describe(env) for env in envs if env in tls]

    def renew(self, env: str) -> dict[str, Any]:
        """Read ``env``'s chain and key again and serve them when they pass their checks."""
        self.ctx.reload_manifest()
        if env not in self._tls_envs():
            raise NotFoundError(
                f"environment {env} has no HTTPS listener",
                f"set environments.{env}.edge.tls and https_port in shipyard.yaml",
            )
        self.ctx.check_certificates()  # ManifestError when the new files fail (nothing changes)
        self.ctx.sync_proxy()
        return self.ctx.certificates.describe(env)

    def _tls_envs(self) -> list[str]:
        return sorted(e for e, spec in self.ctx.manifest.environments.items() if spec.edge.tls is not None)
