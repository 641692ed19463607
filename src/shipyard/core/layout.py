"""From recorded state to the proxy layout that must be running: a pure function.

The active colour's live instances get full weight; during a progressive
rollout the canary colour gets its share and the active colour the rest (see
``split_weights``); every other live instance keeps its address at weight 0 (so
a rollback is a weight change only), or, for a sticky split, is held in
maintenance so that no cookie can pin a client to it; slots without a live
instance are put in maintenance. A killed control plane calls
this again on restart, so HAProxy ends up routing exactly as the state says.
"""

from __future__ import annotations

from collections.abc import Iterable

from shipyard.core.proxy import FULL_WEIGHT, SERVER_MAXCONN, Backend, ProxyLayout, Server
from shipyard.core.records import COLOURS, Instance, Route
from shipyard.core.rollout import split_weights
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
    sticky = isinstance(strategy, Canary) and strategy.sticky
    weights = _colour_weights(route, mine)
    servers = []
    for colour in COLOURS:
        for slot in range(slot_count(manifest, env, mine)):
            inst = by_slot.get((colour, slot))
            weight = weights.get(colour, 0) if inst else 0
            address = f"127.0.0.1:{inst.port}" if inst else None
            maint = sticky and inst is not None and colour == route.standby_colour and weight == 0
            servers.append(Server(f"{colour}-{slot}", address, weight, maint, _maxconn(weight, weights)))
    health = manifest.health
    return Backend(
        env=env,
        bind=f"{spec.bind}:{spec.port}",
        health_path=health.path,
        check_interval_ms=max(100, int(health.interval * 1000)),
        rise=1,
        fall=health.unhealthy_threshold,
        servers=tuple(servers),
        sticky=sticky,
    )


def _maxconn(weight: int, weights: dict[str, int]) -> int:
    """A server's share of concurrent requests follows its weight.

    Round robin skips a server that is full and the backend queue feeds whichever server
    frees a slot first, so under load equal ``maxconn`` would spread requests by capacity,
    not by weight: a 10% canary beside two full stable servers would get every request
    beyond their 128 slots. Scaling ``maxconn`` with the weight keeps the split under load.
    """
    top = max(weights.values(), default=0)
    if weight <= 0 or top <= 0:
        return SERVER_MAXCONN
    return max(1, round(SERVER_MAXCONN * weight / top))


def _colour_weights(route: Route, live: list[Instance]) -> dict[str, int]:
    """Per-server weight of each colour: full on the active one, split during a canary."""
    if route.active_colour is None:
        return {}
    if route.canary_colour is None or route.canary_weight <= 0:
        return {route.active_colour: FULL_WEIGHT}
    stable = sum(1 for i in live if i.colour == route.active_colour)
    canary = sum(1 for i in live if i.colour == route.canary_colour)
    w_stable, w_canary = split_weights(route.canary_weight, stable, canary)
    return {route.active_colour: w_stable, route.canary_colour: w_canary}


def layout_for(manifest: Manifest, routes: dict[str, Route], instances: list[Instance]) -> ProxyLayout:
    """The layout for every environment of ``manifest``."""
    return ProxyLayout(
        tuple(
            backend_for(manifest, env, routes.get(env) or Route(env=env), instances)
            for env in sorted(manifest.environments)
        )
    )
