"""Pure proxy logic: config rendering, transition plans and stats parsing."""

from __future__ import annotations

import pytest

from shipyard.core.proxy import parse_show_stat, plan_transition, render_haproxy_config, render_maps
from shipyard.core.proxy_layout import Backend, MapFiles, ProxyLayout, Server

MAPS = MapFiles("/run/colours.map", "/run/weights.map", "/run/maintenance.map")
BLUE = Server("blue", 0, "127.0.0.1:9001")
GREEN = Server("green", 0, "127.0.0.1:9002")


def backend(
    *servers: Server, active: str | None = "blue", canary: str | None = None, weight: int = 0
) -> Backend:
    return Backend("dev", "127.0.0.1:8080", "/health", 250, 1, 3, servers, False, active, canary, weight)


def config(*backends: Backend, log_target: str | None = None) -> str:
    return render_haproxy_config(ProxyLayout(backends), "/run/admin.sock", None, MAPS, log_target)


def test_switch_is_one_map_change() -> None:
    before = backend(BLUE, GREEN, active="blue")
    after = backend(BLUE, GREEN, active="green")
    assert plan_transition(before, after, MAPS) == ["set map /run/colours.map dev.active green"]


def test_canary_colour_is_named_before_its_weight_rises() -> None:
    before = backend(BLUE, GREEN)
    after = backend(BLUE, GREEN, canary="green", weight=10)
    assert plan_transition(before, after, MAPS) == [
        "set map /run/colours.map dev.canary green",
        "set map /run/weights.map dev 10",
    ]
    step = backend(BLUE, GREEN, canary="green", weight=25)
    assert plan_transition(after, step, MAPS) == ["set map /run/weights.map dev 25"]


def test_abort_drops_the_weight_before_the_colour() -> None:
    during = backend(BLUE, GREEN, canary="green", weight=50)
    assert plan_transition(during, backend(BLUE, GREEN), MAPS) == [
        "set map /run/weights.map dev 0",
        "set map /run/colours.map dev.canary none",
    ]


def test_promotion_moves_the_active_colour_before_the_canary_share_goes() -> None:
    during = backend(BLUE, GREEN, canary="green", weight=50)
    done = backend(BLUE, GREEN, active="green")
    assert plan_transition(during, done, MAPS) == [
        "set map /run/colours.map dev.active green",
        "set map /run/weights.map dev 0",
        "set map /run/colours.map dev.canary none",
    ]


def test_new_address_is_made_ready_before_traffic_is_sent_to_it() -> None:
    before = backend(BLUE, Server("green", 0, None))
    after = backend(BLUE, Server("green", 0, "127.0.0.1:9005"), active="green")
    assert plan_transition(before, after, MAPS) == [
        "set server be_dev_green/green-0 addr 127.0.0.1 port 9005",
        "set server be_dev_green/green-0 state ready",
        "set map /run/colours.map dev.active green",
    ]


def test_removed_instance_goes_to_maintenance_after_the_maps() -> None:
    before = backend(BLUE, GREEN, active="blue")
    after = backend(Server("blue", 0, None), GREEN, active="green")
    assert plan_transition(before, after, MAPS) == [
        "set map /run/colours.map dev.active green",
        "set server be_dev_blue/blue-0 state maint",
    ]


def test_full_sync_from_unknown_state_sets_every_map_entry() -> None:
    plan = plan_transition(None, backend(BLUE, GREEN, active="green"), MAPS)
    assert plan == [
        "set server be_dev_blue/blue-0 addr 127.0.0.1 port 9001",
        "set server be_dev_blue/blue-0 state ready",
        "set server be_dev_green/green-0 addr 127.0.0.1 port 9002",
        "set server be_dev_green/green-0 state ready",
        "set map /run/colours.map dev.active green",
        "set map /run/colours.map dev.canary none",
        "set map /run/weights.map dev 0",
        "set map /run/maintenance.map dev off",  # an adopted HAProxy: the page's state is unknown too
        "clear acl /run/maintenance-allow-dev.acl",
    ]


def test_no_change_plans_nothing() -> None:
    same = backend(BLUE, GREEN, canary="green", weight=10)
    assert plan_transition(same, same, MAPS) == []


def test_config_has_a_frontend_choosing_a_backend_per_colour() -> None:
    text = config(backend(BLUE, Server("green", 0, None)))
    assert "frontend fe_dev\n    bind 127.0.0.1:8080\n" in text
    assert "stats socket /run/admin.sock mode 600 level admin" in text
    assert "str(dev.active),map(/run/colours.map,none)" in text
    assert "str(dev),map_str_int(/run/weights.map,0)" in text
    assert "{ rand(100),sub(txn.sy_weight) -m int lt 0 }" in text
    assert "use_backend be_dev_blue if { var(txn.sy_pick) -m str blue }" in text
    assert "use_backend be_dev_green if { var(txn.sy_pick) -m str green }" in text
    assert 'string "no release serves dev yet" if { var(txn.sy_pick) -m str none }' in text
    blue = text[text.index("\nbackend be_dev_blue") : text.index("\nbackend be_dev_green")]
    assert "server blue-0 127.0.0.1:9001 maxconn 64 check inter 250ms rise 1 fall 3\n" in blue
    assert "green-0" not in blue
    assert "server green-0 127.0.0.1:1 maxconn 64 check inter 250ms rise 1 fall 3 disabled" in text
    assert "timeout queue 30s" in text
    assert "option httpchk GET /health" in text
    assert "retry-on conn-failure empty-response" in text
    assert "req.cook" not in text


def test_maps_hold_each_environments_colours_and_weight() -> None:
    other = Backend("prod", "127.0.0.1:9090", "/health", 250, 1, 3, (), False, None, None, 0)
    colours, weights = render_maps(ProxyLayout((backend(BLUE, GREEN, canary="green", weight=25), other)))
    assert colours == "dev.active blue\ndev.canary green\nprod.active none\nprod.canary none\n"
    assert weights == "dev 25\nprod 0\n"


def test_structure_ignores_routing_and_addresses_but_not_slots() -> None:
    a = ProxyLayout((backend(BLUE),))
    b = ProxyLayout((backend(Server("blue", 0, "127.0.0.1:9777"), active="green", canary="blue", weight=5),))
    c = ProxyLayout((backend(Server("blue", 0, None), Server("blue", 1, None)),))
    assert a.structure() == b.structure()
    assert a.structure() != c.structure()


SHOW_STAT = (
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,"
    "wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,"
    "lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,"
    "hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,"
    "cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,"
    "ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,"
    "check_fall,check_health,agent_rise,agent_fall,agent_health,addr\n"
    "fe_dev,FRONTEND,,,3,5,8000,10,,,,,,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,1,,,,0,10,0,0,0,0,,0,1,"
    "10,,,0,0,0,0,,,,,,,,,,,,,,,,,,,,\n"
    "be_dev_blue,blue-0,0,0,2,3,,7,,,,,,0,0,0,0,UP,100,1,0,0,0,5,0,,1,3,1,,7,,2,0,,1,L7OK,200,1,0,7,"
    "0,0,0,0,,,,7,0,0,,,,,3,,,0,0,1,1,,,,Layer7 check passed,,2,3,4,,,,127.0.0.1:9001\n"
    "be_dev_blue,BACKEND,0,0,2,3,800,7,,,,,,0,0,0,0,UP,100,1,0,,0,5,0,,1,3,0,,7,,1,0,,1,,,,0,7,0,0,"
    "0,0,,,,7,0,0,0,0,0,0,3,,,0,0,1,1,,,,,,,,,,,,\n"
)


def test_show_stat_parses_servers_only() -> None:
    states = parse_show_stat(SHOW_STAT)
    assert [(s.backend, s.name, s.status, s.weight, s.current_sessions, s.address) for s in states] == [
        ("be_dev_blue", "blue-0", "UP", 100, 2, "127.0.0.1:9001")
    ]
    assert (states[0].requests_total, states[0].responses_5xx) == (7, 0)


@pytest.mark.parametrize("text", ["", "# \n"])
def test_show_stat_empty(text: str) -> None:
    assert parse_show_stat(text) == []


def test_sticky_split_follows_the_cookie_only_to_a_colour_in_traffic() -> None:
    be = Backend("dev", "127.0.0.1:8080", "/health", 250, 1, 3, (BLUE, GREEN), True, "blue", "green", 10)
    text = render_haproxy_config(ProxyLayout((be,)), "/tmp/a.sock", None, MAPS)
    assert text.count("cookie SHIPYARD_SRV insert indirect nocache httponly") == 2
    assert "server blue-0 127.0.0.1:9001 maxconn 64" in text and "cookie blue-0\n" in text
    assert "req.cook(SHIPYARD_SRV),word(1,-),strcmp(txn.sy_active) eq 0" in text
    # a canary's cookie counts only while the canary has a share
    assert (
        "{ var(txn.sy_weight) -m int gt 0 } { req.cook(SHIPYARD_SRV),word(1,-),strcmp(txn.sy_canary) eq 0 }"
        in text
    )


def test_access_log_goes_to_the_control_plane_in_shipyards_format() -> None:
    text = config(backend(), log_target="/home/sy/accesslog/haproxy.sock")
    assert "log ring@shipyard-access len 512 format raw local0 info" in text
    assert "ring shipyard-access" in text
    # the ring forwards over the control plane's Unix stream socket, octet-counted
    assert "server control-plane unix@/home/sy/accesslog/haproxy.sock log-proto octet-count" in text
    assert 'log-format "SY %f %s %ST %Ta %Ts.%ms %ts %HM %HPO"' in text
    assert "log " not in config(backend())


def test_an_old_release_beside_the_new_one_leaves_before_its_colour_takes_requests() -> None:
    old, new = Server("green", 0, "127.0.0.1:9002"), Server("green", 1, "127.0.0.1:9007")
    before = backend(BLUE, old, new, active="blue")
    after = backend(BLUE, Server("green", 0, None), new, active="green")
    assert plan_transition(before, after, MAPS) == [
        "set server be_dev_green/green-0 state maint",
        "set map /run/colours.map dev.active green",
    ]


def test_a_server_back_in_a_colour_the_maps_take_out_of_traffic_is_ready_after_them() -> None:
    new = Server("green", 1, "127.0.0.1:9007")
    during = backend(BLUE, Server("green", 0, None), new, canary="green", weight=50)
    after = backend(BLUE, Server("green", 0, "127.0.0.1:9002"), Server("green", 1, None))
    assert plan_transition(during, after, MAPS) == [
        "set map /run/weights.map dev 0",
        "set map /run/colours.map dev.canary none",
        "set server be_dev_green/green-0 addr 127.0.0.1 port 9002",
        "set server be_dev_green/green-0 state ready",
        "set server be_dev_green/green-1 state maint",
    ]
