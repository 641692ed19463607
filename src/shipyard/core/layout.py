"""From recorded state to the proxy layout that must be running: a pure function.

The active colour's live instances get full weight; every other live instance
keeps its address at weight 0 (so a rollback is a weight change only); slots
without a live instance are put in maintenance. A killed control plane calls
this again on restart, so HAProxy ends up routing exactly as the state says.
"""

from __future__ import annotations

from collections.abc import Iterable

from shipyard.core.proxy import FULL_WEIGHT, Backend, ProxyLayout, Server
from shipyard.core.records import COLOURS, Instance, Route
from shipyard.manifest.models import Manifest

LIVE = {"starting", "running"}


def slot_count(manifest: Manifest, env: str, instances: Iterable[Instance]) -> int:
    used = [i.slot + 1 for i in instances if i.env == env and i.state in LIVE]
    return max([manifest.instances(env), *used])


def backend_for(manifest: Manifest, env: str, route: Route, instances: list[Instance]) -> Backend:
    spec = manifest.environments[env]
    mine = [i for i in instances if i.env == env and i.state in LIVE]
    by_slot = {(i.colour, i.slot): i for i in mine}
    servers = []
    for colour in COLOURS:
        for slot in range(slot_count(manifest, env, mine)):
            inst = by_slot.get((colour, slot))
            weight = FULL_WEIGHT if inst and colour == route.active_colour else 0
            address = f"127.0.0.1:{inst.port}" if inst else None
            servers.append(Server(f"{colour}-{slot}", address, weight))
    health = manifest.health
    return Backend(
        env=env,
        bind=f"{spec.bind}:{spec.port}",
        health_path=health.path,
        check_interval_ms=max(100, int(health.interval * 1000)),
        rise=1,
        fall=health.unhealthy_threshold,
        servers=tuple(servers),
    )


def layout_for(manifest: Manifest, routes: dict[str, Route], instances: list[Instance]) -> ProxyLayout:
    """The layout for every environment of ``manifest``."""
    return ProxyLayout(
        tuple(
            backend_for(manifest, env, routes.get(env) or Route(env=env), instances)
            for env in sorted(manifest.environments)
        )
    )
