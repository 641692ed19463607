"""The certificates' answers (``server/certs.py``; ``shipyard certs list|renew``)."""

from __future__ import annotations

from shipyard.schemas.common import Answer


class Certificate(Answer):
    """One HTTPS listener's certificate; ``last_error`` says why its files or its ACME order last
    failed (else empty), ``next_try`` when the renewal loop orders again after a failure."""

    env: str
    source: str  # "file" or "acme"
    names: list[str]
    issuer: str
    expires_at: float | None
    last_attempt: float | None
    last_error: str
    next_try: float | None = None


class Certificates(Answer):
    certificates: list[Certificate]
