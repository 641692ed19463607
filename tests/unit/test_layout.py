"""From recorded state to proxy layout."""

from __future__ import annotations

import dataclasses

from shipyard.core.layout import belongs, layout_for
from shipyard.core.proxy import render_haproxy_config
from shipyard.core.proxy_layout import MapFiles
from shipyard.core.records import Colour, Instance, Route
from shipyard.manifest.loader import parse_manifest

MANIFEST = parse_manifest(
    {
        "app": "notes",
        "processes": {"web": {"command": "x", "instances": 2}},
        "environments": {"dev": {"port": 8080}, "prod": {"port": 8090, "instances": 1}},
    }
)


def inst(
    colour: Colour, slot: int, port: int, state: str = "running", env: str = "dev", release: str = "r1"
) -> Instance:
    return Instance(
        id=port,
        env=env,
        colour=colour,
        slot=slot,
        release_id=release,
        endpoint=f"127.0.0.1:{port}",
        runtime_ref='{"pid": 1, "create_time": 1.0, "log": "x"}',
        state=state,
        restarts=0,
        started_at=0,
    )


def servers(env: str, route: Route, instances: list[Instance]) -> list[tuple[str, str | None]]:
    layout = layout_for(MANIFEST, {env: route}, instances)
    be = layout.backend(env)
    assert be is not None
    return [(s.name, s.address) for s in be.servers]


def test_every_live_instance_keeps_its_address_and_the_route_picks_the_colour() -> None:
    route = Route("dev", "green", "r2", "blue", "r1", 1.0)
    live = [
        inst("blue", 0, 9001),
        inst("blue", 1, 9002),
        inst("green", 0, 9003, release="r2"),
        inst("green", 1, 9004, release="r2"),
    ]
    assert servers("dev", route, live) == [
        ("blue-0", "127.0.0.1:9001"),
        ("blue-1", "127.0.0.1:9002"),
        ("blue-2", None),  # room for a new release beside the standby one
        ("blue-3", None),
        ("green-0", "127.0.0.1:9003"),
        ("green-1", "127.0.0.1:9004"),
        ("green-2", None),
        ("green-3", None),
    ]
    be = layout_for(MANIFEST, {"dev": route}, live).backend("dev")
    assert be is not None and (be.active, be.canary, be.canary_weight) == ("green", None, 0)


def test_stopped_and_stopping_instances_leave_the_proxy() -> None:
    route = Route("dev", "blue", "r1")
    got = servers(
        "dev",
        route,
        [inst("blue", 0, 9001), inst("blue", 1, 9002, "stopping"), inst("green", 0, 9003, "stopped")],
    )
    assert got[:2] == [("blue-0", "127.0.0.1:9001"), ("blue-1", None)]
    assert ("green-0", None) in got


def test_every_environment_has_a_backend_even_before_a_deploy() -> None:
    layout = layout_for(MANIFEST, {}, [])
    assert [b.env for b in layout.backends] == ["dev", "prod"]
    assert [s.name for s in layout.backends[1].servers] == ["blue-0", "blue-1", "green-0", "green-1"]
    assert all(s.address is None for s in layout.backends[0].servers)
    assert layout.backends[0].active is None


def test_canary_colour_gets_its_percentage() -> None:
    route = Route("dev", "blue", "r1", canary_colour="green", canary_release="r2", canary_weight=10)
    live = [inst("blue", 0, 9001), inst("green", 0, 9003, release="r2")]
    be = layout_for(MANIFEST, {"dev": route}, live).backend("dev")
    assert be is not None and (be.active, be.canary, be.canary_weight) == ("blue", "green", 10)
    held = layout_for(MANIFEST, {"dev": route.with_canary("green", "r2", 0)}, live).backend("dev")
    assert held is not None and (held.canary, held.canary_weight) == (None, 0)


def test_route_share_per_colour() -> None:
    route = Route("dev", "blue", "r1", canary_colour="green", canary_release="r2", canary_weight=25)
    assert (route.share("blue"), route.share("green")) == (75, 25)
    assert (route.without_canary().share("blue"), route.without_canary().share("green")) == (100, 0)


def test_sticky_comes_from_the_canary_strategy() -> None:
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
    plain = layout_for(MANIFEST, {"dev": route}, [inst("blue", 0, 9001)]).backend("dev")
    assert plain is not None and not plain.sticky


def test_haproxy_checks_use_the_manifest_health_timeout() -> None:
    manifest = parse_manifest(
        {
            "app": "notes",
            "processes": {"web": {"command": "x"}},
            "health": {"timeout": "750ms", "interval": "250ms"},
            "environments": {"dev": {"port": 8080}},
        }
    )
    layout = layout_for(manifest, {}, [])
    be = layout.backend("dev")
    assert be is not None and be.check_timeout_ms == 750
    config = render_haproxy_config(layout, "/tmp/s", None, MapFiles("/tmp/c.map", "/tmp/w.map", "/tmp/m.map"))
    assert config.count("timeout check 750ms") == 2  # one per colour's backend
    assert "timeout check 2s" not in config


# A deployment of r3 starts it on blue's free slots beside r1, which stands by there.
BESIDE = [
    inst("blue", 0, 9001),
    inst("blue", 1, 9002),
    inst("green", 0, 9003, release="r2"),
    inst("green", 1, 9004, release="r2"),
    inst("blue", 2, 9005, "starting", release="r3"),
    inst("blue", 3, 9006, "starting", release="r3"),
]
SERVING_R2 = Route("dev", "green", "r2", "blue", "r1", 1.0)


def test_a_release_started_beside_the_standby_one_is_checked_while_blue_takes_no_request() -> None:
    got = dict(servers("dev", SERVING_R2, BESIDE))
    assert [got[f"blue-{n}"] for n in range(4)] == [f"127.0.0.1:{p}" for p in (9001, 9002, 9005, 9006)]
    assert [got["green-2"], got["green-3"]] == [None, None]
    assert len(got) == 8  # the slots were there before: no reload of HAProxy


def test_once_blue_takes_requests_only_its_recorded_release_is_in_traffic() -> None:
    canary = SERVING_R2.with_canary("blue", "r3", 10)
    switched = Route("dev", "blue", "r3", "green", "r2", 2.0)
    # the switch marks r3's instances running with the new route (``deploy.py``)
    running = [dataclasses.replace(i, state="running") for i in BESIDE]
    for route, instances in ((canary, BESIDE), (switched, running)):
        got = dict(servers("dev", route, instances))
        assert [got["blue-0"], got["blue-1"]] == [None, None]  # r1 in maintenance
        assert [got["blue-2"], got["blue-3"]] == ["127.0.0.1:9005", "127.0.0.1:9006"]
    # a canary rolled back (weight 0): blue is out of traffic, r1 ready again for a rollback
    held = dict(servers("dev", canary.with_canary("blue", "r3", 0), BESIDE))
    assert [held["blue-0"], held["blue-1"]] == ["127.0.0.1:9001", "127.0.0.1:9002"]


def test_an_added_instance_of_the_serving_colour_waits_until_it_is_healthy() -> None:
    """The autoscaler's new instance is ``starting`` until its health threshold: in maintenance."""
    route = Route("dev", "blue", "r1")
    added = [inst("blue", 0, 9001), inst("blue", 1, 9002, "starting")]
    got = dict(servers("dev", route, added))
    assert (got["blue-0"], got["blue-1"]) == ("127.0.0.1:9001", None)
    healthy = [inst("blue", 0, 9001), inst("blue", 1, 9002)]
    assert dict(servers("dev", route, healthy))["blue-1"] == "127.0.0.1:9002"
    # the standby colour keeps a starting instance checked (a deployment's new release)
    assert dict(servers("dev", Route("dev", "green", "r2"), added))["blue-1"] == "127.0.0.1:9002"


def test_a_restart_keeps_only_instances_of_the_release_their_colour_records() -> None:
    before_switch = [i.name for i in BESIDE if belongs(SERVING_R2, i)]
    assert before_switch == ["blue-0", "blue-1", "green-0", "green-1"]  # r3 half-started: stopped
    switched = Route("dev", "blue", "r3", "green", "r2", 2.0)
    assert [i.name for i in BESIDE if belongs(switched, i)] == ["green-0", "green-1", "blue-2", "blue-3"]
    assert not any(belongs(Route("dev"), i) for i in BESIDE)
