"""The shared edge's HAProxy configuration: one HTTP and one HTTPS port for every app.

Called by the edge's driver (``drivers/proxy/edge.py``) with the routes of ``core/edge_routes.py``.
HTTP is routed per request by the Host header; HTTPS by the name in the TLS ClientHello (SNI) in
TCP mode, passed through untouched, so TLS, its certificates and the HTTP rules stay in each
environment's own HAProxy. The edge reaches that HAProxy through the environment's Unix sockets
with a PROXY protocol v2 header (``send-proxy-v2``), which its ``accept-proxy`` binds read: the
client's address survives for rate limits, networks and ``X-Forwarded-For``.

An unknown Host is answered HAProxy's plain 404 (never another app); a ClientHello with an
unknown or no SNI is closed (no certificate of any app is shown to it). Names are matched as
``edge_routes.match_host`` says: exact names first, then wildcards, longest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shipyard.core import proxy_checks
from shipyard.core.edge_routes import Route, check_routes, ordered_names

HOST_OF_REQUEST = "req.hdr(host),field(1,:),lower"
SNI = "req.ssl_sni,lower"
NOT_FOUND = 'http-request return status 404 content-type text/plain string "no app serves this host name\\n"'


@dataclass(frozen=True)
class EdgePorts:
    """Where the edge listens: ``bind`` an IPv4 address (``0.0.0.0`` for every interface)."""

    http: int
    https: int | None = None
    bind: str = "0.0.0.0"


def render_edge_config(routes: Sequence[Route], ports: EdgePorts, socket_path: str) -> str:
    """The edge's whole configuration; a malformed or twice-claimed name raises before any text."""
    check_routes(routes)
    proxy_checks.check_target(f"{ports.bind}:{ports.http}", "the edge's HTTP port")
    if ports.https is not None:
        proxy_checks.check_target(f"{ports.bind}:{ports.https}", "the edge's HTTPS port")
    proxy_checks.check_files([socket_path], "the edge's admin socket")
    for route in routes:
        for path in (route.http_socket, route.https_socket):
            proxy_checks.check_socket(path, f"app {route.app}'s socket")
    lines = [
        "# Written by Shipyard's control plane from its registered apps; edits are overwritten.",
        "global",
        f"    stats socket {socket_path} mode 600 level admin expose-fd listeners",
        "    maxconn 8000",
        "",
        "defaults",
        "    timeout connect 2s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    timeout http-keep-alive 10s",
        "    timeout http-request 10s",  # a client that sends its headers slowly holds no slot
        "",
        *_http_frontend(routes, ports),
        *(_https_frontend(routes, ports) if ports.https is not None else []),
    ]
    for route in routes:
        lines += _backend(f"http_{route.key}", "http", route.http_socket)
        if route.https_socket is not None and ports.https is not None:
            lines += _backend(f"https_{route.key}", "tcp", route.https_socket)
    return "\n".join(lines) + "\n"


def _choices(routes: Sequence[Route], fetch: str, kind: str, tls_only: bool) -> list[str]:
    """``use_backend`` lines in matching order: exact names, then wildcards by length."""
    lines = []
    for name, route in ordered_names(routes):
        if tls_only and route.https_socket is None:
            continue
        test = f"-m end {name[1:]}" if name.startswith("*.") else f"-m str {name}"
        lines.append(f"    use_backend {kind}_{route.key} if {{ {fetch} {test} }}")
    return lines


def _http_frontend(routes: Sequence[Route], ports: EdgePorts) -> list[str]:
    choices = _choices(routes, HOST_OF_REQUEST, "http", tls_only=False)
    # a frontend's own rules run before its use_backend: the 404 waits in a backend of its own
    return _frontend("http", f"{ports.bind}:{ports.http}", [], choices, "edge_not_found", NOT_FOUND)


def _https_frontend(routes: Sequence[Route], ports: EdgePorts) -> list[str]:
    hello = ["tcp-request inspect-delay 5s", "tcp-request content accept if { req.ssl_hello_type 1 }"]
    choices = _choices(routes, SNI, "https", tls_only=True)
    # no name matched: closed, no app's certificate shown
    unknown = "tcp-request content reject"
    return _frontend("tcp", f"{ports.bind}:{ports.https}", hello, choices, "edge_unknown_name", unknown)


def _frontend(
    mode: str, bind: str, first: list[str], choices: list[str], fallback: str, answer: str
) -> list[str]:
    name = "edge_http" if mode == "http" else "edge_https"
    return [
        f"frontend {name}",
        f"    mode {mode}",
        f"    bind {bind}",
        *(f"    {line}" for line in first),
        *choices,
        f"    default_backend {fallback}",
        "",
        f"backend {fallback}",
        f"    mode {mode}",
        f"    {answer}",
        "",
    ]


def _backend(name: str, mode: str, socket: str) -> list[str]:
    return [f"backend {name}", f"    mode {mode}", f"    server app unix@{socket} send-proxy-v2", ""]
