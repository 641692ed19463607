"""A self-made certificate authority for the TLS tests: a root, and server certificates it signs
(for given names, validity and key), written as PEM text."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _load(text: str) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(text.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@dataclass
class Issued:
    cert: str
    key: str


class CA:
    def __init__(self) -> None:
        self.key = _key()
        self.last_serial = 0  # the serial number of the newest certificate issued
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Shipyard Test Root")])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def issue(self, *names: str, days: float = 90, ago: float = 1, key_text: str | None = None) -> Issued:
        """A server certificate for ``names``, valid from ``ago`` days back for ``days`` days, for
        a new key or the one in ``key_text`` (PEM, as an ACME order's CSR carries it)."""
        key = _key() if key_text is None else _load(key_text)
        start = dt.datetime.now(dt.UTC) - dt.timedelta(days=ago)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(serial := x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.last_serial = serial
        return Issued(cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem(key))

    def other_key(self) -> str:
        return key_pem(_key())
