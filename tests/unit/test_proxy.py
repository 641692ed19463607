"""Pure proxy logic: config rendering, transition plans and stats parsing."""

from __future__ import annotations

import pytest

from shipyard.core.proxy import (
    Backend,
    ProxyLayout,
    Server,
    parse_show_stat,
    plan_transition,
    render_haproxy_config,
)


def backend(*servers: Server) -> Backend:
    return Backend("dev", "127.0.0.1:8080", "/health", 250, 1, 3, servers)


def test_switch_raises_new_weights_before_lowering_old() -> None:
    before = backend(Server("blue-0", "127.0.0.1:9001", 100), Server("green-0", "127.0.0.1:9002", 0))
    after = backend(Server("blue-0", "127.0.0.1:9001", 0), Server("green-0", "127.0.0.1:9002", 100))
    assert plan_transition(before, after) == [
        "set weight be_dev/green-0 100",
        # HAProxy 2.6 only hands its queue to a server leaving maintenance
        "set server be_dev/green-0 state maint",
        "set server be_dev/green-0 state ready",
        "set weight be_dev/blue-0 0",
    ]


def test_new_address_is_set_and_made_ready_before_any_weight() -> None:
    before = backend(Server("blue-0", "127.0.0.1:9001", 100), Server("green-0", None, 0))
    after = backend(Server("blue-0", "127.0.0.1:9001", 100), Server("green-0", "127.0.0.1:9005", 0))
    assert plan_transition(before, after) == [
        "set server be_dev/green-0 addr 127.0.0.1 port 9005",
        "set server be_dev/green-0 state ready",
    ]


def test_removed_instance_goes_to_maintenance_after_weights() -> None:
    before = backend(Server("blue-0", "127.0.0.1:9001", 0), Server("green-0", "127.0.0.1:9002", 100))
    after = backend(Server("blue-0", None, 0), Server("green-0", "127.0.0.1:9002", 100))
    assert plan_transition(before, after) == ["set server be_dev/blue-0 state maint"]


def test_full_sync_from_unknown_state_orders_raises_first() -> None:
    after = backend(Server("blue-0", "127.0.0.1:9001", 0), Server("green-0", "127.0.0.1:9002", 100))
    plan = plan_transition(None, after)
    weights = [c for c in plan if c.startswith("set weight")]
    assert weights == ["set weight be_dev/green-0 100", "set weight be_dev/blue-0 0"]
    assert plan.index("set server be_dev/blue-0 state ready") < plan.index(weights[0])


def test_no_change_plans_nothing() -> None:
    same = backend(Server("blue-0", "127.0.0.1:9001", 100))
    assert plan_transition(same, same) == []


def test_config_disables_empty_slots_and_binds_each_environment() -> None:
    layout = ProxyLayout((backend(Server("blue-0", "127.0.0.1:9001", 100), Server("green-0", None, 0)),))
    text = render_haproxy_config(layout, "/run/admin.sock", None)
    assert "bind 127.0.0.1:8080" in text
    assert "stats socket /run/admin.sock mode 600 level admin" in text
    assert "server blue-0 127.0.0.1:9001 weight 100 maxconn 64 check inter 250ms rise 1 fall 3\n" in text
    assert "server green-0 127.0.0.1:1 weight 0 maxconn 64 check inter 250ms rise 1 fall 3 disabled" in text
    assert "timeout queue 30s" in text
    assert "option httpchk GET /health" in text
    assert "retry-on conn-failure empty-response" in text


def test_structure_ignores_weights_and_addresses_but_not_slots() -> None:
    a = ProxyLayout((backend(Server("blue-0", "127.0.0.1:9001", 100)),))
    b = ProxyLayout((backend(Server("blue-0", "127.0.0.1:9777", 0)),))
    c = ProxyLayout((backend(Server("blue-0", None, 0), Server("blue-1", None, 0)),))
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
    "be_dev,blue-0,0,0,2,3,,7,,,,,,0,0,0,0,UP,100,1,0,0,0,5,0,,1,3,1,,7,,2,0,,1,L7OK,200,1,0,7,"
    "0,0,0,0,,,,7,0,0,,,,,3,,,0,0,1,1,,,,Layer7 check passed,,2,3,4,,,,127.0.0.1:9001\n"
    "be_dev,BACKEND,0,0,2,3,800,7,,,,,,0,0,0,0,UP,100,1,0,,0,5,0,,1,3,0,,7,,1,0,,1,,,,0,7,0,0,"
    "0,0,,,,7,0,0,0,0,0,0,3,,,0,0,1,1,,,,,,,,,,,,\n"
)


def test_show_stat_parses_servers_only() -> None:
    states = parse_show_stat(SHOW_STAT)
    assert [(s.backend, s.name, s.status, s.weight, s.current_sessions, s.address) for s in states] == [
        ("be_dev", "blue-0", "UP", 100, 2, "127.0.0.1:9001")
    ]
    assert (states[0].requests_total, states[0].responses_5xx) == (7, 0)


@pytest.mark.parametrize("text", ["", "# \n"])
def test_show_stat_empty(text: str) -> None:
    assert parse_show_stat(text) == []


def test_sticky_backend_sets_a_cookie_per_server() -> None:
    be = Backend(
        "dev",
        "127.0.0.1:8080",
        "/health",
        250,
        1,
        3,
        (Server("blue-0", "127.0.0.1:9001", 100), Server("green-0", "127.0.0.1:9002", 0, maint=True)),
        sticky=True,
    )
    text = render_haproxy_config(ProxyLayout((be,)), "/tmp/a.sock", None)
    assert "cookie SHIPYARD_SRV insert indirect nocache httponly" in text
    assert "server blue-0 127.0.0.1:9001 weight 100" in text and "cookie blue-0\n" in text
    assert "cookie green-0 disabled" in text


def test_held_server_goes_to_maintenance_and_comes_back_ready() -> None:
    up = backend(Server("blue-0", "127.0.0.1:9001", 100), Server("green-0", "127.0.0.1:9002", 0))
    held = backend(
        Server("blue-0", "127.0.0.1:9001", 100), Server("green-0", "127.0.0.1:9002", 0, maint=True)
    )
    assert plan_transition(up, held) == ["set server be_dev/green-0 state maint"]
    assert plan_transition(held, up) == ["set server be_dev/green-0 state ready"]


def test_access_log_goes_to_the_control_plane_in_shipyards_format() -> None:
    text = render_haproxy_config(ProxyLayout((backend(),)), "/tmp/a.sock", None, "127.0.0.1:5140")
    assert "log 127.0.0.1:5140 len 512 format raw local0 info" in text
    assert 'log-format "SY %b %s %ST %Ta %Ts.%ms %ts"' in text
    assert "log " not in render_haproxy_config(ProxyLayout((backend(),)), "/tmp/a.sock", None)


def test_capacity_rises_before_the_weight_and_falls_after_it() -> None:
    small = backend(
        Server("blue-0", "127.0.0.1:9001", 230), Server("green-0", "127.0.0.1:9002", 26, maxconn=7)
    )
    half = backend(Server("blue-0", "127.0.0.1:9001", 128), Server("green-0", "127.0.0.1:9002", 128))
    plan = plan_transition(small, half)
    assert plan.index("set maxconn server be_dev/green-0 64") < plan.index("set weight be_dev/green-0 128")
    back = plan_transition(half, small)
    assert back.index("set weight be_dev/green-0 26") < back.index("set maxconn server be_dev/green-0 7")
    text = render_haproxy_config(ProxyLayout((small,)), "/tmp/a.sock", None)
    assert "server green-0 127.0.0.1:9002 weight 26 maxconn 7 " in text
