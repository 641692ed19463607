"""What the proxy should look like: pure routing data, HAProxy config text, runtime plans.

The engine computes a ``ProxyLayout`` from the recorded state; the HAProxy driver
writes ``render_haproxy_config`` to disk (so a restarted HAProxy routes exactly as
the state says) and applies transitions at run time with ``plan_transition``,
which raises growing weights before it lowers shrinking ones: lowering first
leaves an instant where no server has weight, and HAProxy answers 503.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from shipyard.core.traffic import LOG_FORMAT

FULL_WEIGHT = 100
SERVER_MAXCONN = 64
PLACEHOLDER = "127.0.0.1:1"
STICKY_COOKIE = "SHIPYARD_SRV"


@dataclass(frozen=True)
class Server:
    name: str  # "blue-0"
    address: str | None  # "127.0.0.1:9123"; None when no instance fills the slot
    weight: int  # 0..256
    maint: bool = False  # kept out even of persistent (sticky) traffic
    maxconn: int = 64  # requests in flight at once; more wait in HAProxy's queue


@dataclass(frozen=True)
class Backend:
    env: str
    bind: str  # "127.0.0.1:8080"
    health_path: str
    check_interval_ms: int
    rise: int
    fall: int
    servers: tuple[Server, ...]
    sticky: bool = False  # a cookie keeps each client on one server

    @property
    def name(self) -> str:
        return f"be_{self.env}"

    def structure(self) -> tuple[object, ...]:
        """What only a reload can change: binds, checks and the set of server slots."""
        return (
            self.env,
            self.bind,
            self.health_path,
            self.check_interval_ms,
            self.rise,
            self.fall,
            self.sticky,
            tuple(s.name for s in self.servers),
        )


@dataclass(frozen=True)
class ProxyLayout:
    backends: tuple[Backend, ...]

    def structure(self) -> tuple[object, ...]:
        return tuple(b.structure() for b in self.backends)

    def backend(self, env: str) -> Backend | None:
        return next((b for b in self.backends if b.env == env), None)


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


def render_haproxy_config(
    layout: ProxyLayout, socket_path: str, stats_bind: str | None, log_target: str | None = None
) -> str:
    """HAProxy configuration for ``layout``; servers without an instance start disabled."""
    lines = [
        "# Written by Shipyard from its state store; edits are overwritten.",
        "global",
        f"    stats socket {socket_path} mode 600 level admin expose-fd listeners",
        "    stats timeout 2m",
        "    maxconn 8000",
        *([f"    log {log_target} len 512 format raw local0 info"] if log_target else []),
        "",
        "defaults",
        "    mode http",
        *(["    log global", f'    log-format "{LOG_FORMAT}"'] if log_target else []),
        "    timeout connect 2s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    timeout http-keep-alive 10s",
        "    timeout check 2s",
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
        lines += [
            f"frontend fe_{be.env}",
            f"    bind {be.bind}",
            f"    default_backend {be.name}",
            "",
            f"backend {be.name}",
            "    balance roundrobin",
            f"    option httpchk GET {be.health_path}",
            "    http-check expect status 200",
        ]
        if be.sticky:
            lines.append(f"    cookie {STICKY_COOKIE} insert indirect nocache httponly")
        for srv in be.servers:
            check = f"check inter {be.check_interval_ms}ms rise {be.rise} fall {be.fall}"
            cookie = f" cookie {srv.name}" if be.sticky else ""
            state = "" if srv.address and not srv.maint else " disabled"
            addr = srv.address or PLACEHOLDER
            limits = f"weight {srv.weight} maxconn {srv.maxconn}"
            lines.append(f"    server {srv.name} {addr} {limits} {check}{cookie}{state}")
        lines.append("")
    return "\n".join(lines)


def plan_transition(current: Backend | None, desired: Backend) -> list[str]:
    """Runtime API commands that take a running backend from ``current`` to ``desired``.

    Order: new addresses and readiness first, then weights raised, then weights lowered,
    then servers without an instance (or held out of sticky traffic) put into maintenance.
    Both backends have the same structure (same server names); a structural change needs a reload instead.
    """
    before = {s.name: s for s in current.servers} if current else {}
    be = desired.name
    addresses: list[str] = []
    raises: list[str] = []
    lowers: list[str] = []
    maint: list[str] = []
    for srv in desired.servers:
        old = before.get(srv.name)
        if srv.address and (old is None or old.address != srv.address):
            host, port = srv.address.rsplit(":", 1)
            addresses.append(f"set server {be}/{srv.name} addr {host} port {port}")
            addresses.append(f"set server {be}/{srv.name} state ready")
        old_weight = old.weight if old else 0
        capacity = (
            [f"set maxconn server {be}/{srv.name} {srv.maxconn}"]
            if old is None or old.maxconn != srv.maxconn
            else []
        )
        if srv.weight > old_weight:
            raises += capacity  # capacity moves with the weight: raised first, lowered last
            capacity = []
            raises.append(f"set weight {be}/{srv.name} {srv.weight}")
            if old_weight == 0:
                # HAProxy 2.6 hands queued requests to a server only when it comes out of
                # maintenance, not when its weight rises from 0: without this kick the
                # backend queue (server maxconn) is never drained by the new colour.
                raises.append(f"set server {be}/{srv.name} state maint")
                raises.append(f"set server {be}/{srv.name} state ready")
        elif srv.weight < old_weight or old is None:
            lowers.append(f"set weight {be}/{srv.name} {srv.weight}")
        lowers += capacity
        out_now = srv.address is None or srv.maint
        out_before = old is not None and (old.address is None or old.maint)
        if out_now and (old is None or not out_before):
            maint.append(f"set server {be}/{srv.name} state maint")
        elif not out_now and out_before and srv.weight <= old_weight and old and old.address == srv.address:
            addresses.append(f"set server {be}/{srv.name} state ready")
    return addresses + raises + lowers + maint


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
