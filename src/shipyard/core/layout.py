"""From recorded state to the proxy layout that must be running: a pure function.

Every live instance keeps its address in its colour's backend, so a standby
colour can take traffic again (a rollback) by one map change; slots without a
live instance are put in maintenance. Which colours take requests, and the
canary's percentage, come from the route. A killed control plane calls this
again on restart, so HAProxy ends up routing exactly as the state says.
"""

from __future__ import annotations

from collections.abc import Iterable

from shipyard.core.proxy import Backend, ProxyLayout, Server
from shipyard.core.records import COLOURS, Instance, Route
from shipyard.manifest.models import Canary, Manifest

LIVE = {"starting", "running"}


def slot_count(manifest: Manifest, env: str, instances: Iterable[Instance]) -> int:
    used = [i.slot + 1 for i in instances if i.env == env and i.state in LIVE]
    return max([manifest.instances(env), *used])


def backend_for(manifest: Manifest, env: str, route: Route, instances: list[Instance]) -> Backend:
    spec = manifest.environments[env]
    mine = [i for i in instances if i.env == env and i.state in LIVE]
    by_slot = {(i.colour, i.slot): i for i in mine}
    strategy = manifest.strategy_for(env)
    servers = []
    for colour in COLOURS:
        for slot in range(slot_count(manifest, env, mine)):
            inst = by_slot.get((colour, slot))
            servers.append(Server(colour, slot, f"127.0.0.1:{inst.port}" if inst else None))
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
        sticky=isinstance(strategy, Canary) and strategy.sticky,
        active=route.active_colour,
        canary=canary,
        canary_weight=route.canary_weight if canary else 0,
    )


def layout_for(manifest: Manifest, routes: dict[str, Route], instances: list[Instance]) -> ProxyLayout:
    """The layout for every environment of ``manifest``."""
    return ProxyLayout(
        tuple(
            backend_for(manifest, env, routes.get(env) or Route(env=env), instances)
            for env in sorted(manifest.environments)
        )
    )
