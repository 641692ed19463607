"""From recorded state to proxy layout."""

from __future__ import annotations

from shipyard.core.layout import layout_for
from shipyard.core.records import Instance, Route
from shipyard.manifest.loader import parse_manifest

MANIFEST = parse_manifest(
    {
        "app": "notes",
        "processes": {"web": {"command": "x", "instances": 2}},
        "environments": {"dev": {"port": 8080}, "prod": {"port": 8090, "instances": 1}},
    }
)


def inst(colour: str, slot: int, port: int, state: str = "running", env: str = "dev") -> Instance:
    return Instance(
        id=port,
        env=env,
        colour=colour,
        slot=slot,
        release_id="r1",  # type: ignore[arg-type]
        port=port,
        pid=1,
        create_time=1.0,
        state=state,
        restarts=0,
        started_at=0,
        log_path="x",
    )


def servers(env: str, route: Route, instances: list[Instance]) -> list[tuple[str, str | None, int]]:
    layout = layout_for(MANIFEST, {env: route}, instances)
    be = layout.backend(env)
    assert be is not None
    return [(s.name, s.address, s.weight) for s in be.servers]


def test_active_colour_gets_weight_and_standby_keeps_address() -> None:
    route = Route("dev", "green", "r2", "blue", "r1", 1.0)
    got = servers(
        "dev",
        route,
        [inst("blue", 0, 9001), inst("blue", 1, 9002), inst("green", 0, 9003), inst("green", 1, 9004)],
    )
    assert got == [
        ("blue-0", "127.0.0.1:9001", 0),
        ("blue-1", "127.0.0.1:9002", 0),
        ("green-0", "127.0.0.1:9003", 100),
        ("green-1", "127.0.0.1:9004", 100),
    ]


def test_stopped_and_stopping_instances_leave_the_proxy() -> None:
    route = Route("dev", "blue", "r1")
    got = servers(
        "dev",
        route,
        [inst("blue", 0, 9001), inst("blue", 1, 9002, "stopping"), inst("green", 0, 9003, "stopped")],
    )
    assert got[:2] == [("blue-0", "127.0.0.1:9001", 100), ("blue-1", None, 0)]
    assert ("green-0", None, 0) in got


def test_new_colour_is_reachable_at_weight_zero_before_the_switch() -> None:
    route = Route("dev", "blue", "r1")
    got = servers("dev", route, [inst("blue", 0, 9001), inst("green", 0, 9003, "starting")])
    assert ("green-0", "127.0.0.1:9003", 0) in got
    assert ("blue-0", "127.0.0.1:9001", 100) in got


def test_every_environment_has_a_backend_even_before_a_deploy() -> None:
    layout = layout_for(MANIFEST, {}, [])
    assert [b.env for b in layout.backends] == ["dev", "prod"]
    assert [s.name for s in layout.backends[1].servers] == ["blue-0", "green-0"]
    assert all(s.address is None and s.weight == 0 for s in layout.backends[0].servers)


def test_canary_colour_gets_its_share_of_the_weight() -> None:
    route = Route("dev", "blue", "r1", canary_colour="green", canary_release="r2", canary_weight=10)
    got = servers(
        "dev",
        route,
        [inst("blue", 0, 9001), inst("blue", 1, 9002), inst("green", 0, 9003), inst("green", 1, 9004)],
    )
    weights = {name: weight for name, _, weight in got}
    share = (weights["green-0"] + weights["green-1"]) / sum(weights.values())
    assert abs(share - 0.10) < 0.006
    assert weights["blue-0"] == weights["blue-1"] > weights["green-0"] == weights["green-1"] > 0


def test_sticky_split_holds_the_standby_colour_in_maintenance() -> None:
    sticky = parse_manifest(
        {
            "app": "notes",
            "processes": {"web": {"command": "x"}},
            "strategy": {"canary": {"sticky": True}},
            "environments": {"dev": {"port": 8080}},
        }
    )
    route = Route("dev", "green", "r2", "blue", "r1", 1.0)
    be = layout_for(sticky, {"dev": route}, [inst("blue", 0, 9001), inst("green", 0, 9003)]).backend("dev")
    assert be is not None and be.sticky
    by_name = {s.name: s for s in be.servers}
    assert by_name["blue-0"].maint and by_name["blue-0"].weight == 0
    assert not by_name["green-0"].maint
    plain = layout_for(MANIFEST, {"dev": route}, [inst("blue", 0, 9001), inst("green", 0, 9003)]).backend(
        "dev"
    )
    assert plain is not None and not plain.sticky and not any(s.maint for s in plain.servers)


def test_capacity_follows_the_canary_split() -> None:
    route = Route("dev", "blue", "r1", canary_colour="green", canary_release="r2", canary_weight=10)
    live = [inst("blue", 0, 9001), inst("blue", 1, 9002), inst("green", 0, 9003), inst("green", 1, 9004)]
    be = layout_for(MANIFEST, {"dev": route}, live).backend("dev")
    assert be is not None
    slots = {s.name: s.maxconn for s in be.servers}
    assert slots["blue-0"] == slots["blue-1"] == 64
    share = (slots["green-0"] + slots["green-1"]) / sum(slots.values())
    assert abs(share - 0.10) < 0.02  # saturated, the canary still serves about its share
    plain = layout_for(MANIFEST, {"dev": Route("dev", "blue", "r1")}, live).backend("dev")
    assert plain is not None and {s.maxconn for s in plain.servers} == {64}
