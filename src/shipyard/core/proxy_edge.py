"""An environment's edge rules and maintenance page as HAProxy lines, files and runtime commands.

Called by ``core/proxy.py`` (the frontend of each environment, the stick tables, the files beside
the maps) and by ``plan_transition`` (the maintenance switch). Each rule is one small function
that returns lines, so another frontend option (TLS, host names) adds a function, not string soup.

A request passes, in order: the forwarded headers (the client's address and scheme, whatever the
client sent is replaced: HAProxy is the first hop), the networks (403), the maintenance page
(503, except to its allowed networks), the rate limits (429) and the body size (413); then the
routing picks a version. A rate limit counts only the requests it lets through (``gpc0``, raised
after every check passed), so a client that keeps sending over its limit still gets its allowed
share, and a refused request costs the others nothing.
"""

from __future__ import annotations

from shipyard.core.edge import MAINTENANCE_RETRY_AFTER, EdgeRules, Maintenance, RateLimit, encoded_message
from shipyard.core.edge_routes import edge_socket
from shipyard.core.proxy_layout import Backend, MapFiles, ProxyLayout
from shipyard.core.tls import ALPN, CIPHERS_TLS12, CIPHERSUITES_TLS13, Tls

TABLE_ENTRIES = "100k"  # client addresses each rate limit remembers
COMPRESSED_TYPES = (
    "text/html text/plain text/css text/csv text/xml text/javascript application/javascript "
    "application/json application/xml application/problem+json image/svg+xml"
)


def table_name(env: str, index: int) -> str:
    return f"rl_{env}_{index}"


def stick_tables(be: Backend) -> list[str]:
    """One table-only backend per rate limit: the count per client address over its window."""
    lines: list[str] = []
    for i, limit in enumerate(be.edge.rate_limits):
        lines += [
            f"backend {table_name(be.env, i)}",
            f"    stick-table type ipv6 size {TABLE_ENTRIES} expire {2 * limit.per_ms}ms "
            f"store gpc0,gpc0_rate({limit.per_ms}ms)",
            "",
        ]
    return lines


def binds(be: Backend, maps: MapFiles) -> list[str]:
    """The frontend's listeners: plain HTTP, and HTTPS with its certificate when TLS is set; with
    ``domains``, the same again on Unix sockets for the shared edge (``core/edge_config.py``),
    which sends each connection's client address first (PROXY protocol: ``accept-proxy``)."""
    tls = be.edge.tls
    shared = bool(be.edge.domains)
    http = f"unix@{edge_socket(be.env, 'http')} accept-proxy mode 600"
    lines = [f"    bind {be.bind}", *([f"    bind {http}"] if shared else [])]
    if tls is None:
        return lines
    host = be.bind.rsplit(":", 1)[0]
    ssl = (
        f"ssl crt {maps.cert_file(be.env)} alpn {ALPN} ssl-min-ver TLSv{tls.min_version} "
        f"ciphers {CIPHERS_TLS12} ciphersuites {CIPHERSUITES_TLS13}"
    )
    https = f"unix@{edge_socket(be.env, 'https')} accept-proxy mode 600"
    return [*lines, f"    bind {host}:{tls.port} {ssl}", *([f"    bind {https} {ssl}"] if shared else [])]


def frontend_rules(be: Backend, maps: MapFiles) -> list[str]:
    """The lines of ``be``'s frontend that run before the routing."""
    rules = be.edge
    return [
        *_acme_challenge(rules.tls, maps),
        *_redirect(rules.tls),
        *_forwarded(rules),
        *_hsts(rules.tls),
        *_networks(rules),
        *_maintenance(be.env, maps),
        *_rate_limits(be.env, rules.rate_limits),
        *_body_size(rules.max_body),
        *_compression(rules.compression),
    ]


ACME_PATH = "/.well-known/acme-challenge/"


def _acme_challenge(tls: Tls | None, maps: MapFiles) -> list[str]:
    """An ACME server's HTTP-01 request answered by HAProxy itself from the challenge map (set
    over the runtime API while an order waits): before the redirect, the networks, maintenance
    and rate limits, so none of them fails a validation. An unknown token goes on as any path."""
    if tls is None or not tls.acme:
        return []
    answer = f"%[path,field(4,/),map({maps.acme_file()})]"
    return [
        f'    http-request return status 200 content-type text/plain lf-string "{answer}" '
        f"if {{ path_beg {ACME_PATH} }} {{ path,field(4,/),map({maps.acme_file()}) -m found }}"
    ]


def _redirect(tls: Tls | None) -> list[str]:
    """Plain HTTP answered 308 to the same host and path on the HTTPS port."""
    if tls is None or not tls.redirect:
        return []
    port = "" if tls.port == 443 else f":{tls.port}"
    target = f"https://%[req.hdr(host),field(1,:)]{port}%[capture.req.uri]"
    return [f"    http-request redirect location {target} code 308 if !{{ ssl_fc }}"]


def _forwarded(rules: EdgeRules) -> list[str]:
    proto = "%[ssl_fc,iif(https,http)]" if rules.tls else rules.proto
    return [
        "    http-request set-header X-Forwarded-For %[src]",
        f"    http-request set-header X-Forwarded-Proto {proto}",
        f'    http-request set-header Forwarded "for=%[src];proto={proto}"',
    ]


def _hsts(tls: Tls | None) -> list[str]:
    """HSTS on HTTPS answers only (RFC 6797: a browser ignores it over plain HTTP)."""
    if tls is None or tls.hsts is None:
        return []
    return [f'    http-response set-header Strict-Transport-Security "{tls.hsts.header()}" if {{ ssl_fc }}']


def _networks(rules: EdgeRules) -> list[str]:
    refuse = 'http-request return status 403 content-type text/plain string "forbidden\\n"'
    lines = [f"    acl sy_allowed src {net}" for net in rules.allow]
    lines += [f"    acl sy_denied src {net}" for net in rules.deny]
    lines += [f"    {refuse} if !sy_allowed"] if rules.allow else []
    lines += [f"    {refuse} if sy_denied"] if rules.deny else []
    return lines


def _maintenance(env: str, maps: MapFiles) -> list[str]:
    page = f"%[str({env}.msg),map({maps.maintenance},-),url_dec]\\n"
    return [
        f"    acl sy_maintenance_ok src -f {maps.allow_file(env)}",
        f"    http-request set-var(txn.sy_maintenance) str({env}),map({maps.maintenance},off)",
        f'    http-request return status 503 content-type text/plain lf-string "{page}" '
        f"hdr Retry-After {MAINTENANCE_RETRY_AFTER} "
        "if { var(txn.sy_maintenance) -m str on } !sy_maintenance_ok",
    ]


def _refuse_over(counter: int, limit: RateLimit, extra: str = "") -> str:
    return (
        '    http-request return status 429 content-type text/plain string "too many requests\\n" '
        f"hdr Retry-After {limit.retry_after} if {extra}{{ sc_gpc0_rate({counter}) ge {limit.requests} }}"
    )


def _rate_limits(env: str, limits: tuple[RateLimit, ...]) -> list[str]:
    """Counter 0 for the limit on every path; counter 1 for the longest matching prefix."""
    lines: list[str] = []
    indexed = list(enumerate(limits))
    for i, limit in indexed:
        if limit.prefix is not None:
            lines += [f"    acl sy_rl_{i} path {limit.prefix}", f"    acl sy_rl_{i} path_beg {limit.prefix}/"]
    for i, limit in indexed:
        if limit.prefix is None:
            lines += [f"    http-request track-sc0 src table {table_name(env, i)}", _refuse_over(0, limit)]
    paths = sorted((x for x in indexed if x[1].prefix is not None), key=lambda x: -len(x[1].prefix or ""))
    for i, _ in paths:
        lines += [
            f"    http-request track-sc1 src table {table_name(env, i)} if sy_rl_{i}",
            f"    http-request set-var(txn.sy_rl) int({i}) if sy_rl_{i} !{{ var(txn.sy_rl) -m found }}",
        ]
    lines += [_refuse_over(1, limit, f"{{ var(txn.sy_rl) -m int eq {i} }} ") for i, limit in paths]
    if limits:
        lines += ["    http-request sc-inc-gpc0(0)"] if any(x.prefix is None for x in limits) else []
        lines += ["    http-request sc-inc-gpc0(1) if { var(txn.sy_rl) -m found }"] if paths else []
    return lines


def _body_size(max_body: int | None) -> list[str]:
    if max_body is None:
        return []
    return [
        "    http-request return status 413 content-type text/plain "
        f'string "request body too large (at most {max_body} bytes)\\n" '
        f"if {{ req.hdr_val(content-length) gt {max_body} }}"
    ]


def _compression(enabled: bool) -> list[str]:
    return ["    compression algo gzip", f"    compression type {COMPRESSED_TYPES}"] if enabled else []


def maintenance_files(layout: ProxyLayout, maps: MapFiles) -> dict[str, str]:
    """The maintenance map (every environment's switch and page) and each allow list's file (the
    ACME challenge map holds what is pending at run time: the driver writes it)."""
    entries: list[str] = []
    files: dict[str, str] = {}
    for be in layout.backends:
        state = be.maintenance
        entries += [f"{be.env} {'on' if state else 'off'}", f"{be.env}.msg {_page(state)}"]
        files[maps.allow_file(be.env)] = "".join(f"{net}\n" for net in (state.allow if state else ()))
    return {maps.maintenance: "\n".join(entries) + "\n", **files}


def plan_maintenance(current: Backend | None, desired: Backend, maps: MapFiles) -> list[str]:
    """Runtime commands that switch ``desired``'s maintenance page as it says (none if unchanged).

    Turning on: the allowed networks and the page first, then the switch; turning off: the
    switch first. ``current`` None (an adopted HAProxy) sets everything."""
    state = desired.maintenance
    if current is not None and current.maintenance == state:
        return []
    env, acl = desired.env, maps.allow_file(desired.env)
    allow = [f"clear acl {acl}", *(f"add acl {acl} {net}" for net in (state.allow if state else ()))]
    page = [f"set map {maps.maintenance} {env}.msg {_page(state)}"]
    if state is None:
        return [f"set map {maps.maintenance} {env} off", *allow]
    return [*allow, *page, f"set map {maps.maintenance} {env} on"]


def _page(state: Maintenance | None) -> str:
    return encoded_message(state.message if state else Maintenance().message)
