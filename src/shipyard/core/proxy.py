"""What the proxy should look like: HAProxy config text and runtime plans, from the routing data.

Each environment has one frontend and one backend per colour (``be_dev_blue``,
``be_dev_green``). The frontend picks the version of every request: the canary
colour with probability ``canary_weight`` percent (``rand(100)``), else the
active colour, or, for a sticky split, the colour named by the client's cookie
while that colour is in traffic. The choice reads two HAProxy maps (colours
and weights) that the runtime API changes in one command each, so a switch, a
canary step and a rollback are each one atomic map change, and every version
queues only its own requests: under saturation the split still follows the
weight, not each version's share of the CPU.

The engine computes a ``ProxyLayout`` (the data of ``core/proxy_layout.py``) from the
recorded state; the HAProxy driver writes ``render_haproxy_config`` and ``render_maps`` to
disk (so a restarted HAProxy routes exactly as the state says) and applies transitions at run time
with ``plan_transition``: servers first, then the maps, in an order that never
sends a request to a version that cannot take it.
"""

from __future__ import annotations

import csv
import io

from shipyard.core import proxy_checks
from shipyard.core.proxy_edge import binds, frontend_rules, plan_maintenance, stick_tables
from shipyard.core.proxy_layout import NONE, Backend, MapFiles, ProxyLayout, ServerState
from shipyard.core.records import COLOURS
from shipyard.core.traffic import LOG_FORMAT

SERVER_MAXCONN = 64
PLACEHOLDER = "127.0.0.1:1"
STICKY_COOKIE = "SHIPYARD_SRV"
ACCESS_RING = "shipyard-access"
ACCESS_RING_BYTES = 8 * 1024 * 1024  # about 100,000 lines kept while the control plane restarts


def frontend_name(env: str) -> str:
    return f"fe_{env}"


def backend_name(env: str, colour: str) -> str:
    return f"be_{env}_{colour}"


def backend_names(env: str) -> set[str]:
    return {backend_name(env, c) for c in COLOURS}


def render_maps(layout: ProxyLayout) -> tuple[str, str]:
    """The colours map and the weights map for ``layout``."""
    for be in layout.backends:
        proxy_checks.check_backend(be)
    colours: list[str] = []
    weights: list[str] = []
    for be in layout.backends:
        active, canary, weight = be.map_entries()
        colours += [f"{active[0]} {active[1]}", f"{canary[0]} {canary[1]}"]
        weights.append(f"{be.env} {weight}")
    return "\n".join(colours) + "\n", "\n".join(weights) + "\n"


def render_haproxy_config(
    layout: ProxyLayout,
    socket_path: str,
    stats_bind: str | None,
    maps: MapFiles,
    log_target: str | None = None,
) -> str:
    """HAProxy configuration for ``layout``; servers without an instance start disabled.

    Every value is checked against its pattern first (``proxy_checks``): refused, not escaped.
    """
    proxy_checks.check_files([socket_path], "the stats socket")
    proxy_checks.check_maps(maps)
    proxy_checks.check_target(stats_bind, "the stats page's address")
    proxy_checks.check_socket(log_target, "the access log's socket")
    for be in layout.backends:
        proxy_checks.check_backend(be)
    lines = [
        "# Written by Shipyard from its state store; edits are overwritten.",
        "global",
        f"    stats socket {socket_path} mode 600 level admin expose-fd listeners",
        "    stats timeout 2m",
        "    maxconn 8000",
        *([f"    log ring@{ACCESS_RING} len 512 format raw local0 info"] if log_target else []),
        "",
        *(_access_ring(log_target) if log_target else []),
        "defaults",
        "    mode http",
        *(["    log global", f'    log-format "{LOG_FORMAT}"'] if log_target else []),
        "    timeout connect 2s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    timeout http-keep-alive 10s",
        "    timeout queue 30s",
        "    retries 3",
        "    option redispatch 1",
        "    retry-on conn-failure empty-response",
        "    option idle-close-on-response",
        "",
    ]
    if stats_bind:
        lines += [
            "frontend fe_stats",
            f"    bind {stats_bind}",
            "    http-request use-service prometheus-exporter if { path /metrics }",
            "    stats enable",
            "    stats uri /stats",
            "",
        ]
    for be in layout.backends:
        lines += _frontend(be, maps) + stick_tables(be)
        for colour in COLOURS:
            lines += _colour_backend(be, colour)
    return "\n".join(lines)


def _access_ring(socket_path: str) -> list[str]:
    """The access log's channel: a ring that forwards each line as octet-counted syslog over
    the control plane's Unix stream socket (only Shipyard's user can reach it), and keeps
    the lines written while the control plane is down until it listens again."""
    return [
        f"ring {ACCESS_RING}",
        "    format raw",
        "    maxlen 512",
        f"    size {ACCESS_RING_BYTES}",
        "    timeout connect 1s",
        "    timeout server 1h",
        f"    server control-plane unix@{socket_path} log-proto octet-count",
        "",
    ]


def _frontend(be: Backend, maps: MapFiles) -> list[str]:
    env = be.env
    cookie_colour = f"req.cook({STICKY_COOKIE}),word(1,-)"
    lines = [
        f"frontend {frontend_name(env)}",
        *binds(be, maps),
        *frontend_rules(be, maps),
        f"    http-request set-var(txn.sy_active) str({env}.active),map({maps.colours},{NONE})",
        f"    http-request set-var(txn.sy_canary) str({env}.canary),map({maps.colours},{NONE})",
        f"    http-request set-var(txn.sy_weight) str({env}),map_str_int({maps.weights},0)",
        "    http-request set-var(txn.sy_pick) var(txn.sy_active)",
        "    http-request set-var(txn.sy_pick) var(txn.sy_canary) if "
        "{ var(txn.sy_weight) -m int gt 0 } { rand(100),sub(txn.sy_weight) -m int lt 0 }",
    ]
    if be.sticky:
        lines += [
            "    http-request set-var(txn.sy_pick) var(txn.sy_active) if "
            f"{{ {cookie_colour},strcmp(txn.sy_active) eq 0 }}",
            "    http-request set-var(txn.sy_pick) var(txn.sy_canary) if "
            f"{{ var(txn.sy_weight) -m int gt 0 }} {{ {cookie_colour},strcmp(txn.sy_canary) eq 0 }}",
        ]
    lines.append(
        "    http-request return status 503 content-type text/plain "
        f'string "no release serves {env} yet" if {{ var(txn.sy_pick) -m str {NONE} }}'
    )
    lines += [f"    use_backend {backend_name(env, c)} if {{ var(txn.sy_pick) -m str {c} }}" for c in COLOURS]
    lines += [f"    default_backend {backend_name(env, COLOURS[0])}", ""]
    return lines


def _colour_backend(be: Backend, colour: str) -> list[str]:
    lines = [
        f"backend {backend_name(be.env, colour)}",
        "    balance roundrobin",
        f"    option httpchk GET {be.health_path}",
        "    http-check expect status 200",
        f"    timeout check {be.check_timeout_ms}ms",
    ]
    if be.sticky:
        lines.append(f"    cookie {STICKY_COOKIE} insert indirect nocache httponly")
    for srv in be.servers:
        if srv.colour != colour:
            continue
        check = f"check inter {be.check_interval_ms}ms rise {be.rise} fall {be.fall}"
        cookie = f" cookie {srv.name}" if be.sticky else ""
        state = "" if srv.address else " disabled"
        addr = srv.address or PLACEHOLDER
        lines.append(f"    server {srv.name} {addr} maxconn {SERVER_MAXCONN} {check}{cookie}{state}")
    lines.append("")
    return lines


def plan_transition(current: Backend | None, desired: Backend, maps: MapFiles) -> list[str]:
    """Runtime API commands that take a running environment from ``current`` to ``desired``.

    Order: new addresses made ready first, then the maps (see ``_map_changes``), then
    servers without an instance put into maintenance, once no request goes their way.
    Two exceptions keep a colour's requests on the servers ``desired`` gives it: a server
    leaving a colour that takes requests under the new maps (an old release kept beside a
    new one) goes into maintenance before the maps change, and a server coming back in a
    colour the new maps take out of traffic (a canary rolled back) is made ready after.
    Both have the same structure (same server names); a structural change needs a reload.
    The maintenance page is switched last (``proxy_edge.plan_maintenance``).
    """
    proxy_checks.check_backend(desired)
    proxy_checks.check_maps(maps)
    before = {s.name: s for s in current.servers} if current else {}
    first: list[str] = []
    last: list[str] = []
    for srv in desired.servers:
        be = backend_name(desired.env, srv.colour)
        old = before.get(srv.name)
        if srv.address and (old is None or old.address != srv.address):
            host, port = srv.address.rsplit(":", 1)
            ready = [
                f"set server {be}/{srv.name} addr {host} port {port}",
                f"set server {be}/{srv.name} state ready",
            ]
            leaving = current is not None and _takes_requests(current, srv.colour)
            (last if leaving and not _takes_requests(desired, srv.colour) else first).extend(ready)
        elif srv.address is None and (old is None or old.address is not None):
            maint = f"set server {be}/{srv.name} state maint"
            (first if _takes_requests(desired, srv.colour) else last).append(maint)
    return first + _map_changes(current, desired, maps) + last + plan_maintenance(current, desired, maps)


def _takes_requests(be: Backend, colour: str) -> bool:
    return colour == be.active or (colour == be.canary and be.canary_weight > 0)


def _map_changes(current: Backend | None, desired: Backend, maps: MapFiles) -> list[str]:
    (active_key, active), (canary_key, canary), weight = desired.map_entries()
    if current is None:
        old_active = old_canary = None
        old_weight = -1  # unknown: set everything
    else:
        (_, old_active), (_, old_canary), old_weight = current.map_entries()
    env = desired.env
    set_weight = [f"set map {maps.weights} {env} {weight}"]
    set_active = [f"set map {maps.colours} {active_key} {active}"] if active != old_active else []
    set_canary = [f"set map {maps.colours} {canary_key} {canary}"] if canary != old_canary else []
    # The active colour first (a promoted canary takes all requests before its share
    # is dropped), a shrinking weight before its colour goes, a growing one after it came.
    return (
        set_active
        + (set_weight if weight < old_weight else [])
        + set_canary
        + (set_weight if weight > old_weight else [])
    )


def parse_queues(text: str) -> dict[str, int]:
    """Requests waiting per backend in ``show stat``: its own queue plus its servers' (``qcur``)."""
    body = text.lstrip("# ").strip()
    queued: dict[str, int] = {}
    for row in csv.DictReader(io.StringIO(body)) if body else []:
        if row.get("svname") not in ("FRONTEND", None):
            queued[row["pxname"]] = queued.get(row["pxname"], 0) + int(row.get("qcur") or 0)
    return queued


def parse_show_stat(text: str) -> list[ServerState]:
    """Parse the CSV of the runtime API's ``show stat`` into server states."""
    body = text.lstrip("# ").strip()
    if not body:
        return []
    out: list[ServerState] = []
    for row in csv.DictReader(io.StringIO(body)):
        if row.get("svname") in ("FRONTEND", "BACKEND", None):
            continue
        out.append(
            ServerState(
                backend=row["pxname"],
                name=row["svname"],
                status=row.get("status", ""),
                weight=int(row.get("weight") or 0),
                current_sessions=int(row.get("scur") or 0),
                address=row.get("addr", ""),
                requests_total=int(row.get("stot") or 0),
                responses_5xx=int(row.get("hrsp_5xx") or 0),
            )
        )
    return out
