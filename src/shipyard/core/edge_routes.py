"""The shared edge: several apps' environments on one HTTP and one HTTPS port, by host name.

Pure decisions for ``engine/apps/edge.py``, which collects each registered app's environments
and their ``edge.domains`` into ``Route`` records, and for ``core/edge_config.py``, which renders
the edge's HAProxy configuration from them. A name is exact (``shop.example.com``) or a wildcard
(``*.example.com``: any name that ends in ``.example.com``, not ``example.com`` itself). An exact
name wins over every wildcard, and a longer wildcard over a shorter one, so the order of the
manifests never decides where a request goes. A name claimed twice (by two environments of one
app, or of two apps) is refused with both places; nothing reaches HAProxy then, so the edge
keeps its last good configuration.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shipyard.errors import ManifestError

DOMAIN = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")  # an app's name, as an environment's


@dataclass(frozen=True)
class Route:
    """One environment reachable through the edge: its names and where its frontend listens.

    ``http_socket`` and ``https_socket`` are the Unix sockets of the environment's own frontend
    (``core/proxy_edge.py`` binds them with ``accept-proxy``), named relative to the edge's folder
    (HAProxy takes socket paths of at most 97 characters); ``https_socket`` is None when the
    environment has no TLS: its names are then not served on the HTTPS port.
    """

    app: str
    env: str
    domains: tuple[str, ...]
    where: str  # the manifest and key that declared the names, for errors
    http_socket: str
    https_socket: str | None = None

    @property
    def key(self) -> str:
        return f"{self.app}_{self.env}"


def edge_socket(env: str, scheme: str) -> str:
    """The Unix socket ``env``'s frontend binds for the shared edge, relative to its HAProxy's
    folder (where that HAProxy runs): ``edge-<env>-http.sock`` or ``edge-<env>-https.sock``."""
    return f"edge-{env}-{scheme}.sock"


def check_domain(name: str, where: str) -> str:
    """``name`` lower-cased, without a final dot; a ManifestError naming ``where`` if malformed."""
    host = name.strip().lower().rstrip(".") if isinstance(name, str) else ""
    if len(host) > 253 or not DOMAIN.match(host):
        raise ManifestError(
            f"{where}: {str(name)[:80]!r} is not a host name",
            "write a name such as shop.example.com or *.example.com "
            "(letters, digits, dashes and dots; a wildcard only as the first label)",
        )
    return host


def check_routes(routes: Sequence[Route]) -> None:
    """Refuse malformed names, app names, and a name claimed by two environments."""
    owner: dict[str, Route] = {}
    for route in routes:
        for label, value in (("an app name", route.app), ("an environment name", route.env)):
            if not NAME.match(value):
                raise ManifestError(
                    f"{route.where}: {value[:60]!r} is not {label}",
                    "use lower-case letters, digits and dashes, starting with a letter (at most 40)",
                )
        for i, name in enumerate(route.domains):
            host = check_domain(name, f"{route.where}[{i}]")
            other = owner.setdefault(host, route)
            if other is not route:
                raise ManifestError(
                    f"{route.where}[{i}]: the host name {host!r} is already claimed by environment "
                    f"{other.env!r} of app {other.app!r} ({other.where})",
                    "each host name goes to one environment: remove it from one of the two "
                    "manifests (the edge keeps serving its last good configuration meanwhile)",
                )


def ordered_names(routes: Iterable[Route]) -> list[tuple[str, Route]]:
    """Every (name, route) in the order the edge tries them: exact names first, then wildcards,
    the longest first (so ``*.eu.example.com`` wins over ``*.example.com``)."""
    pairs = [(check_domain(n, r.where), r) for r in routes for n in r.domains]
    return sorted(pairs, key=lambda p: (p[0].startswith("*."), -len(p[0]), p[0]))


def match_host(host: str, routes: Sequence[Route]) -> Route | None:
    """The route ``host`` (a Host header or an SNI name, maybe with a port) reaches; None: 404.

    This is the rule the rendered configuration applies in HAProxy, stated once in Python."""
    name = host.split(":", 1)[0].strip().lower().rstrip(".")  # HAProxy: field(1,:),lower
    for domain, route in ordered_names(routes):
        if name == domain or (domain.startswith("*.") and name.endswith(domain[1:])):
            return route
    return None
