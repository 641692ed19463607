"""The proxy's routing as data: each environment's backend, its servers, the maps' files.

A ``ProxyLayout`` is what the proxy must look like (``core/layout.py`` computes it from the
recorded state); ``core/proxy.py`` renders it as HAProxy's configuration and maps and plans the
runtime changes between two of them, after ``core/proxy_checks.py`` has checked every value;
``ServerState`` is one server as HAProxy reports it. Pure data, no I/O.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field, replace

from shipyard.core.edge import EdgeRules, Maintenance
from shipyard.core.tls import Pem

NONE = "none"  # map value: no colour


@dataclass(frozen=True)
class Server:
    colour: str
    slot: int
    address: str | None  # "127.0.0.1:9123"; None when no instance fills the slot

    @property
    def name(self) -> str:
        return f"{self.colour}-{self.slot}"


@dataclass(frozen=True)
class Backend:
    """One environment's routing: its servers and which colours take its requests."""

    env: str
    bind: str  # "127.0.0.1:8080"
    health_path: str
    check_interval_ms: int
    rise: int
    fall: int
    servers: tuple[Server, ...]
    sticky: bool = False  # a cookie keeps each client on one version
    active: str | None = None  # colour taking the requests the canary does not
    canary: str | None = None
    canary_weight: int = 0  # percent of requests on the canary colour
    check_timeout_ms: int = 2000  # health.timeout: a slower answer to a check is a failure
    edge: EdgeRules = field(default_factory=EdgeRules)  # limits, networks, headers, compression
    maintenance: Maintenance | None = None  # set at run time (``shipyard maintenance on``)
    certificate: Pem | None = None  # the HTTPS listener's chain and key, swapped at run time

    def structure(self) -> tuple[object, ...]:
        """What only a reload can change: binds, checks and the set of server slots."""
        return (
            self.env,
            self.bind,
            self.health_path,
            self.check_interval_ms,
            self.check_timeout_ms,
            self.rise,
            self.fall,
            self.sticky,
            self.edge,
            tuple(s.name for s in self.servers),
        )

    def map_entries(self) -> tuple[tuple[str, str], tuple[str, str], int]:
        """(colours map entries, weight): what the frontend reads to choose a version."""
        weight = self.canary_weight if self.canary else 0
        return (
            (f"{self.env}.active", self.active or NONE),
            (f"{self.env}.canary", self.canary or NONE),
            max(0, min(100, weight)),
        )


@dataclass(frozen=True)
class ProxyLayout:
    backends: tuple[Backend, ...]

    def structure(self) -> tuple[object, ...]:
        return tuple(b.structure() for b in self.backends)

    def backend(self, env: str) -> Backend | None:
        return next((b for b in self.backends if b.env == env), None)

    def shape(self) -> ProxyLayout:
        """This layout without what the runtime API sets (addresses, routing, maintenance): what a
        configuration must match for a running HAProxy to be brought to ``self`` without a reload."""
        return ProxyLayout(
            tuple(
                replace(
                    b,
                    servers=tuple(replace(s, address=None) for s in b.servers),
                    active=None,
                    canary=None,
                    canary_weight=0,
                    maintenance=None,
                    certificate=None,
                )
                for b in self.backends
            )
        )


@dataclass(frozen=True)
class MapFiles:
    """Where HAProxy reads the routing maps (absolute paths)."""

    colours: str
    weights: str
    maintenance: str  # env -> on/off, env.msg -> the page's text (``core/proxy_edge.py``)

    def allow_file(self, env: str) -> str:
        """The ACL file of the client networks that pass ``env``'s maintenance page."""
        return posixpath.join(posixpath.dirname(self.maintenance), f"maintenance-allow-{env}.acl")

    def acme_file(self) -> str:
        """The map of pending ACME HTTP-01 challenges: token -> key authorization, set at run time
        (and written, so that a reload keeps them)."""
        return posixpath.join(posixpath.dirname(self.maintenance), "acme-challenges.map")

    def cert_file(self, env: str) -> str:
        """The PEM file (chain and key, mode 0600) HAProxy serves ``env``'s HTTPS with."""
        return posixpath.join(posixpath.dirname(self.maintenance), f"cert-{env}.pem")


@dataclass(frozen=True)
class ServerState:
    """One server as HAProxy reports it in ``show stat``."""

    backend: str
    name: str
    status: str  # UP, DOWN, MAINT, "no check"...
    weight: int
    current_sessions: int
    address: str
    requests_total: int = 0  # stot: requests (sessions) the server has handled
    responses_5xx: int = 0  # hrsp_5xx
