"""What the edge does with a request before it routes it: limits, networks, headers, compression,
and the maintenance page. Pure data and checks, no I/O.

``manifest/edge.py`` fills ``EdgeRules`` from ``environments.<name>.edge``; the maintenance
switch (``Maintenance``) comes from the state store (``shipyard maintenance on``). Both travel in
an environment's ``Backend`` (``core/proxy_layout.py``); ``core/proxy_edge.py`` renders them as
HAProxy lines and runtime commands.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import urllib.parse
from dataclasses import dataclass

from shipyard.core.tls import Tls

MAINTENANCE_RETRY_AFTER = 60  # seconds a client is told to wait on the maintenance page
DEFAULT_MESSAGE = "This service is down for maintenance. Please try again in a few minutes."
MAX_MESSAGE = 1000
MAX_NETWORKS = 200


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` per ``per`` seconds from one client address, on every path or
    on the paths under ``prefix`` (``/api`` covers ``/api`` and ``/api/...``)."""

    requests: int
    per: float
    prefix: str | None = None

    @property
    def retry_after(self) -> int:
        """Seconds a refused client is told to wait: one window."""
        return max(1, math.ceil(self.per))

    @property
    def per_ms(self) -> int:
        return max(1, round(self.per * 1000))


@dataclass(frozen=True)
class EdgeRules:
    """An environment's request rules, applied by HAProxy before a request reaches the app."""

    rate_limits: tuple[RateLimit, ...] = ()  # the global one (prefix None) first
    max_body: int | None = None  # bytes; a larger Content-Length is answered 413
    allow: tuple[str, ...] = ()  # client networks (CIDR); when set, any other gets 403
    deny: tuple[str, ...] = ()  # client networks answered 403 (even when allowed)
    compression: bool = True  # gzip text answers the app did not compress
    proto: str = "http"  # what X-Forwarded-Proto and Forwarded say on the plain HTTP port
    tls: Tls | None = None  # the HTTPS listener (its certificate travels in the Backend)
    domains: tuple[str, ...] = ()  # host names: the shared edge reaches the frontend by them


@dataclass(frozen=True)
class Maintenance:
    """An environment in maintenance: HAProxy answers 503 with ``message``, except to ``allow``."""

    message: str = DEFAULT_MESSAGE
    allow: tuple[str, ...] = ()
    since: float = 0.0
    by: str = ""


def parse_network(value: str) -> str:
    """A client network in CIDR form (``10.0.0.0/8``, ``2001:db8::/32``, or one address), normalised;
    ValueError saying what is wrong otherwise."""
    text = value.strip() if isinstance(value, str) else ""
    try:
        return str(ipaddress.ip_network(text, strict=True))
    except ValueError as exc:
        hint = ""
        with contextlib.suppress(ValueError):
            hint = f" (did you mean {ipaddress.ip_network(text, strict=False)}?)"
        raise ValueError(f"{str(value)[:60]!r} is not a network in CIDR form{hint}: {exc}") from None


def check_message(message: str) -> str:
    """A maintenance message: printable text of at most 1000 characters."""
    if not message.strip() or len(message) > MAX_MESSAGE or not message.isprintable():
        raise ValueError(
            f"a maintenance message is printable text of 1 to {MAX_MESSAGE} characters on one line"
        )
    return message


def encoded_message(message: str) -> str:
    """``message`` as one percent-encoded word: a map value HAProxy's runtime API keeps whole
    (it cuts a value at a space and a command at ``;``); the page decodes it (``url_dec``)."""
    return urllib.parse.quote(message, safe="")
