"""Reads a certificate chain and its private key (PEM) into the facts ``core/tls.py`` checks.

Called by ``engine/certs/files.py``. The ``cryptography`` library parses; its exceptions become
``ValueError`` saying what is wrong (never the key's text).
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
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
