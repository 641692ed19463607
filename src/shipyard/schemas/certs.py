"""The certificates' answers (``server/certs.py``; ``shipyard certs list|renew``)."""

from __future__ import annotations

from shipyard.schemas.common import Answer


class Certificate(Answer):
    """One HTTPS listener's certificate; ``last_error`` says why its files last failed (else empty)."""

    env: str
    source: str  # "file"
    names: list[str]
    issuer: str
    expires_at: float | None
    last_attempt: float | None
    last_error: str


class Certificates(Answer):
    certificates: list[Certificate]
