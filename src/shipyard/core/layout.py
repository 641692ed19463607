"""From recorded state to the proxy layout that must be running: a pure function.

Every live instance keeps its address in its colour's backend, so a standby
colour can take traffic again (a rollback) by one map change; slots without a
live instance are put in maintenance. A deployment starts the new release in the
standby colour beside the release that stands by there (other slots of the same
backend), so a failed deployment leaves that colour as it was; while the colour
takes requests (a canary, the switch), only the instances of the release the route
records for it are in traffic, the others are in maintenance. Which colours take requests, and the
canary's percentage, come from the route. A killed control plane calls this
again on restart, so HAProxy ends up routing exactly as the state says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from shipyard.core.edge import EdgeRules, Maintenance
from shipyard.core.proxy_layout import Backend, ProxyLayout, Server
from shipyard.core.records import COLOURS, Instance, Route
from shipyard.core.tls import Pem

LIVE = {"starting", "running"}


class Listener(Protocol):
    """An environment's public address: ``environments.<name>`` of the manifest."""

    @property
    def bind(self) -> str:
        """The IPv4 address the public port binds to."""

    @property
    def port(self) -> int:
        """The public port HAProxy listens on."""


class HealthCheck(Protocol):
    """The manifest's ``health``: how HAProxy checks each server."""

    @property
    def path(self) -> str:
        """The HTTP path probed on each server."""

    @property
    def interval(self) -> float:
        """Seconds between two checks of a server."""

    @property
    def timeout(self) -> float:
        """Seconds after which a check fails."""

    @property
    def unhealthy_threshold(self) -> int:
        """Failed checks in a row before a server is taken out."""


class Spec(Protocol):
    """What the layout reads of the manifest (``manifest.models.Manifest``)."""

    @property
    def environments(self) -> Mapping[str, Listener]:
        """Every environment, by name."""

    @property
    def health(self) -> HealthCheck:
        """The instances' health check, which HAProxy runs too."""

    def most_instances(self, env: str) -> int:
        """The most instances of web a colour of ``env`` may run (autoscaling's max)."""

    def sticky(self, env: str) -> bool:
        """Whether a cookie keeps each client of ``env`` on one instance and version."""

    def edge_rules(self, env: str) -> EdgeRules:
        """``env``'s rate limits, body size, networks and compression."""


def slot_count(manifest: Spec, env: str, instances: Iterable[Instance]) -> int:
    """Server slots per colour: room for two releases (the standby one and a new one beside
    it), so a deployment changes servers at run time and never reloads HAProxy."""
    used = [i.slot + 1 for i in instances if i.env == env and i.state in LIVE]
    return max([2 * manifest.most_instances(env), *used])


def backend_for(
    manifest: Spec,
    env: str,
    route: Route,
    instances: list[Instance],
    maintenance: Maintenance | None = None,
    certificate: Pem | None = None,
) -> Backend:
    spec = manifest.environments[env]
    mine = [i for i in instances if i.env == env and i.state in LIVE]
    by_slot = {(i.colour, i.slot): i for i in mine if routable(route, i)}
    servers = []
    for colour in COLOURS:
        for slot in range(slot_count(manifest, env, mine)):
            inst = by_slot.get((colour, slot))
            servers.append(Server(colour, slot, inst.endpoint if inst else None))
    canary = route.canary_colour if route.canary_weight > 0 else None
    health = manifest.health
    return Backend(
        env=env,
        bind=f"{spec.bind}:{spec.port}",
        health_path=health.path,
        check_interval_ms=max(100, int(health.interval * 1000)),
        check_timeout_ms=max(100, int(health.timeout * 1000)),
        rise=1,
        fall=health.unhealthy_threshold,
        servers=tuple(servers),
        sticky=manifest.sticky(env),
        active=route.active_colour,
        canary=canary,
        canary_weight=route.canary_weight if canary else 0,
        edge=manifest.edge_rules(env),
        maintenance=maintenance,
        certificate=certificate,
    )


def recorded_release(route: Route, colour: str) -> str | None:
    """The release the route records for ``colour``: serving, canary or standing by."""
    if colour == route.active_colour:
        return route.active_release
    if colour == route.canary_colour and route.canary_weight > 0:
        return route.canary_release
    return route.standby_release if colour == route.standby_colour else None


def belongs(route: Route, inst: Instance) -> bool:
    """Whether ``inst`` runs the release its colour is recorded for (else a restarted control
    plane stops it: a deployment's half-started instances, or an old release left beside)."""
    recorded = recorded_release(route, inst.colour)
    return recorded is not None and inst.release_id == recorded


def routable(route: Route, inst: Instance) -> bool:
    """A colour that takes requests gets them only on its recorded release's instances; a
    colour out of traffic keeps every live instance ready (checked, so it can take over). In
    the serving colour an instance still ``starting`` (one the autoscaler added, not healthy
    yet) waits in maintenance: it gets requests only once it passed its health threshold."""
    takes = inst.colour == route.active_colour or (
        inst.colour == route.canary_colour and route.canary_weight > 0
    )
    if not takes:
        return True
    warming = inst.colour == route.active_colour and inst.state != "running"
    return inst.release_id == recorded_release(route, inst.colour) and not warming


def layout_for(
    manifest: Spec,
    routes: dict[str, Route],
    instances: list[Instance],
    maintenance: Mapping[str, Maintenance] | None = None,
    certificates: Mapping[str, Pem] | None = None,
) -> ProxyLayout:
    """The layout for every environment of ``manifest``; ``maintenance``: the environments whose
    maintenance page is on; ``certificates``: each HTTPS listener's checked chain and key."""
    pages, certs = maintenance or {}, certificates or {}
    return ProxyLayout(
        tuple(
            backend_for(
                manifest, env, routes.get(env) or Route(env=env), instances, pages.get(env), certs.get(env)
            )
            for env in sorted(manifest.environments)
        )
    )
