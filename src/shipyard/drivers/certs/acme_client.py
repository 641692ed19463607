"""An RFC 8555 (ACME) order for one environment's names, answered by HTTP-01 through HAProxy.

Called by ``engine/certs/acme.py``. The certbot project's ``acme`` library speaks the protocol;
this module registers (or finds) the account of a key, orders a certificate for the names,
publishes each HTTP-01 key authorization through ``publish`` (HAProxy's challenge map), waits
for the order and returns the full chain. Every failure of the server or the network becomes a
``CertificateError`` saying what the server said and how to get on (never a key).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from acme import challenges, client, crypto_util, messages
from acme import errors as acme_errors
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.errors import DeserializationError
from josepy.jwa import ES256
from josepy.jwk import JWKEC

from shipyard.errors import CertificateError

RATE_LIMITED = "urn:ietf:params:acme:error:rateLimited"
ORDER_TIMEOUT_S = 90.0
NETWORK_TIMEOUT_S = 30


@dataclass(frozen=True)
class AcmeOrder:
    """What one order needs: the CA's directory, its TLS root (None: the system's), the contact
    and the names (the account and certificate keys go beside it: secrets, never printed)."""

    directory: str
    ca_bundle: str | None
    email: str | None
    names: tuple[str, ...]


Publish = Callable[[str, str], None]  # (token, key authorization): served at the challenge path
Withdraw = Callable[[str], None]


def new_key_pem() -> str:
    """A fresh ECDSA P-256 private key (PEM): an account key or a certificate key."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def issue(order: AcmeOrder, account_key: str, cert_key: str, publish: Publish, withdraw: Withdraw) -> str:
    """The full chain (PEM) the CA issued for ``order.names`` to ``cert_key``."""
    with _mapped(order.directory):
        acme = _client(order, account_key)
        csr = crypto_util.make_csr(cert_key.encode(), list(order.names))
        placed = acme.new_order(csr)
        tokens: list[str] = []
        try:
            _answer(acme, placed, publish, tokens)
            # naive local time: the library compares the deadline with datetime.now()
            deadline = datetime.now() + timedelta(seconds=ORDER_TIMEOUT_S)
            done = acme.poll_and_finalize(placed, deadline)
        finally:  # the answers are withdrawn whatever happened
            for token in tokens:
                withdraw(token)
        return str(done.fullchain_pem)


def _client(order: AcmeOrder, account_key: str) -> client.ClientV2:
    key = serialization.load_pem_private_key(account_key.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    net = client.ClientNetwork(JWKEC(key=key), alg=ES256, user_agent="shipyard", timeout=NETWORK_TIMEOUT_S)
    if order.ca_bundle:  # requests takes a CA file where the library says bool
        net.verify_ssl = order.ca_bundle  # type: ignore[assignment]
    acme = client.ClientV2(client.ClientV2.get_directory(order.directory, net), net)
    contact = (f"mailto:{order.email}",) if order.email else ()
    try:
        acme.new_account(messages.NewRegistration(contact=contact, terms_of_service_agreed=True))
    except acme_errors.ConflictError as known:  # the key has an account: use it
        net.account = acme.query_registration(
            messages.RegistrationResource(uri=known.location, body=messages.Registration())
        )
    return acme


def _answer(
    acme: client.ClientV2, placed: messages.OrderResource, publish: Publish, tokens: list[str]
) -> None:
    """Publish and answer each authorization's HTTP-01 challenge, adding each token to ``tokens``."""
    for authz in placed.authorizations:
        if authz.body.status == messages.STATUS_VALID:
            continue
        http01 = next((c for c in authz.body.challenges if isinstance(c.chall, challenges.HTTP01)), None)
        if http01 is None:
            raise CertificateError(
                f"the ACME server offers no HTTP-01 challenge for {authz.body.identifier.value}",
                "use an ACME server that validates by HTTP-01 (Let's Encrypt does)",
            )
        assert isinstance(http01.chall, challenges.HTTP01)
        response, validation = http01.chall.response_and_validation(acme.net.key)
        publish(http01.chall.encode("token"), validation)
        tokens.append(http01.chall.encode("token"))
        acme.answer_challenge(http01, response)


@contextmanager
def _mapped(directory: str) -> Iterator[None]:
    """The library's and the network's exceptions as ``CertificateError`` with a hint."""
    try:
        yield
    except CertificateError:
        raise
    except messages.Error as exc:
        raise _refused(directory, exc.typ, exc.detail or exc.description or exc.typ) from None
    except acme_errors.ValidationError as exc:
        failed = [c.error for a in exc.failed_authzrs for c in a.body.challenges if c.error]
        problems = "; ".join(str(e.detail or e.typ) for e in failed)
        raise CertificateError(
            f"the ACME server {directory} could not validate the names: {problems[:300]}",
            "each name in `edge.domains` must resolve to this machine, with its HTTP port "
            "reachable on port 80 from the internet; then `shipyard certs renew ENV`",
        ) from None
    except acme_errors.TimeoutError:
        raise CertificateError(
            f"the ACME server {directory} did not finish the order within {ORDER_TIMEOUT_S:.0f} s",
            "try again with `shipyard certs renew ENV`; the current certificate keeps serving",
        ) from None
    except (requests.RequestException, acme_errors.Error, DeserializationError) as exc:
        if getattr(getattr(exc, "response", None), "status_code", None) == 429:
            raise _refused(directory, RATE_LIMITED, "HTTP 429 Too Many Requests") from None
        raise CertificateError(
            f"the ACME server {directory} cannot be reached or answered wrongly ({type(exc).__name__})",
            "check `edge.tls.acme.directory` (and `ca_bundle` for a private CA) and the network; "
            "the current certificate keeps serving and the next try is backed off",
        ) from None


def _refused(directory: str, typ: str, reason: str | None) -> CertificateError:
    said = (reason or "no reason")[:300]
    if typ == RATE_LIMITED:
        return CertificateError(
            f"the ACME server {directory} rate-limits this account or these names: {said}",
            "wait for the limit's window (Let's Encrypt's are weekly) and try again; use the staging "
            "directory for tests; the current certificate keeps serving",
        )
    return CertificateError(
        f"the ACME server {directory} refused the order: {said}",
        "read the server's reason above; fix `edge.domains` or `edge.tls.acme` and run "
        "`shipyard certs renew ENV`; the current certificate keeps serving",
    )
