"""Reads a certificate chain and its private key (PEM) into the facts ``core/tls.py`` checks.

Called by ``engine/certs/files.py`` and ``engine/certs/acme.py`` (which also makes the placeholder
served before the first ACME issue here). The ``cryptography`` library parses; its exceptions
become ``ValueError`` saying what is wrong (never the key's text).
"""

from __future__ import annotations

import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID

from shipyard.core.tls import CertFacts

PUBLIC = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def read_facts(chain_pem: str, key_pem: str) -> CertFacts:
    """The first certificate of ``chain_pem`` (the server's own) and whether ``key_pem`` is its key."""
    try:
        certs = x509.load_pem_x509_certificates(chain_pem.encode())
    except ValueError:
        raise ValueError("the certificate file holds no PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("the private key is not an unencrypted PEM private key") from None
    cert = certs[0]
    return CertFacts(
        names=_names(cert),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc.timestamp(),
        not_after=cert.not_valid_after_utc.timestamp(),
        key_matches=key.public_key().public_bytes(*PUBLIC) == cert.public_key().public_bytes(*PUBLIC),
    )


def _names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        alt = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
        assert isinstance(alt, x509.SubjectAlternativeName)
        return tuple(alt.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        return tuple(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME))


def self_signed(names: tuple[str, ...], days: float = 7) -> tuple[str, str]:
    """A throwaway certificate and its key (PEM texts) for ``names`` (host names or addresses):
    what HAProxy serves before the first ACME issue (it cannot start an HTTPS listener without
    one). It is its own root (CA:TRUE), so only who trusts its very file trusts it."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)
