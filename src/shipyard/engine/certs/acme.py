"""Certificates from ACME: the order of each ``tls: acme`` environment, its renewal loop and its
faults.

Built by the composition root (``runtime.py``) and run by ``Certificates`` (``engine/certs/
service.py``): the loop looks every minute at each environment and orders a certificate when it
serves a placeholder, its names changed or it expires within 30 days; ``shipyard certs renew``
orders one now. An order publishes its HTTP-01 answers in HAProxy's challenge map (runtime API),
keeps the account key, the certificate's key and chain in the vault (``acme.<env>``, written as
``shipyard``, audited), and swaps the certificate into HAProxy with no reload (``Context.sync_proxy``).
A failed order (the server down, refusing, rate-limiting) is recorded as the last attempt with
its hint, counted by the ``cert_renewal_failing`` metric (the ``CertificateRenewalFailing``
default alert fires on it), and tried again after a growing pause (1 min,
doubling, at most 6 h); the certificate served so far keeps serving.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from shipyard.core.tls import CertFacts, Pem, certificate_problem
from shipyard.core.vault import Secret
from shipyard.drivers.certs import acme_client
from shipyard.drivers.certs.x509 import read_facts
from shipyard.drivers.loops import Loop, Task
from shipyard.engine.certs.issued import ACCOUNT_KEY, CERT_KEY, CHAIN, acme_envs, vault_space
from shipyard.engine.context import Context
from shipyard.errors import CertificateError, ShipyardError

FIRST_BACKOFF_S = 60.0
MAX_BACKOFF_S = 6 * 3600.0
KEYS = "ACME account and certificate keys"

Keep = Callable[[str, Mapping[str, Secret], str], None]  # the vault's system write (``Vault.keep``)
Issue = Callable[[acme_client.AcmeOrder, str, str, acme_client.Publish, acme_client.Withdraw], str]


@dataclass
class Backoff:
    failures: int = 0
    next_try: float = 0.0


class AcmeRenewal:
    def __init__(
        self,
        ctx: Context,
        keep: Keep,
        issue: Issue = acme_client.issue,
        period: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ctx = ctx
        self.keep = keep
        self.issue = issue
        self.clock = clock
        self._backoff: dict[str, Backoff] = {}
        self._orders = threading.Lock()  # one order at a time (the loop's or a user's)
        self.loop = Loop("acme-renewal", self.run_once, period, initial_delay=1.0)

    def loops(self) -> list[Task]:
        return [self.loop]

    def run_once(self) -> None:
        """Order a certificate for each environment that needs one and is not backing off."""
        if not self.ctx.proxy.is_running():
            return  # HAProxy answers the challenges: no order before it runs
        now = self.clock()
        for env in acme_envs(self.ctx.manifest):
            domains = self.ctx.manifest.environments[env].edge.domains
            if not self.ctx.issued.due(env, domains, now) or now < self._state(env).next_try:
                continue
            try:
                self.renew(env)
            except ShipyardError as exc:
                self.loop.note(f"{env}: {exc.message}")

    def renew(self, env: str) -> None:
        """Order ``env``'s certificate now and serve it; CertificateError when the order failed
        (recorded, announced, backed off; the served certificate stays)."""
        with self._orders:
            try:
                pem, facts = self._order(env)
            except ShipyardError as exc:
                self._failed(env, exc)
                raise
            self._backoff.pop(env, None)
            self.ctx.issued.serve(env, pem, facts)
            self.ctx.issued.record(env, "")
            self.ctx.sync_proxy()  # `set ssl cert` + `commit ssl cert`: no reload

    def _order(self, env: str) -> tuple[Pem, CertFacts]:
        spec = self.ctx.manifest.environments[env].edge
        acme = spec.acme
        assert acme is not None  # acme_envs' and renew's check
        bundle = str(self.ctx.paths.manifest.parent / acme.ca_bundle) if acme.ca_bundle else None
        order = acme_client.AcmeOrder(acme.directory, bundle, acme.email, spec.domains)
        stored = self.ctx.secrets.values(vault_space(env), KEYS)
        account = stored.get(ACCOUNT_KEY)
        if not account:  # kept before the first order: one account per environment, not per try
            account = acme_client.new_key_pem()
            self.keep(vault_space(env), {ACCOUNT_KEY: Secret(account)}, "ACME account key")
        key = acme_client.new_key_pem()
        proxy = self.ctx.proxy
        chain = self.issue(order, account, key, proxy.publish_challenge, proxy.withdraw_challenge)
        facts = read_facts(chain, key)
        problem = certificate_problem(facts, spec.domains, self.clock())
        if problem is not None:
            raise CertificateError(
                f"the ACME server {acme.directory} issued a certificate that may not serve {env}: {problem}",
                "check the server; the current certificate keeps serving",
            )
        self.keep(vault_space(env), {CHAIN: Secret(chain), CERT_KEY: Secret(key)}, "ACME certificate")
        return Pem(chain.strip() + "\n" + key.strip() + "\n"), facts

    def _failed(self, env: str, exc: ShipyardError) -> None:
        state = self._state(env)
        state.failures += 1
        pause = min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** (state.failures - 1))
        state.next_try = self.clock() + pause
        self.ctx.issued.record(env, f"{exc.message} (try: {exc.hint})", state.next_try)

    def failing(self, env: str, now: float) -> float:
        """Failed orders in a row for ``env`` (the ``cert_renewal_failing`` alert metric)."""
        state = self._backoff.get(env)
        return float(state.failures) if state else 0.0

    def _state(self, env: str) -> Backoff:
        return self._backoff.setdefault(env, Backoff())
