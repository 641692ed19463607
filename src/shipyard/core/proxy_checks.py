"""The renderer's second line of defence: every value written into HAProxy's text is checked.

The manifest's loader already refuses bind addresses, paths and names outside their patterns
(``manifest/checks.py``); whatever reaches ``core/proxy.py`` from elsewhere (a state row, a
folder path, a future caller) is checked again here, and anything outside its pattern is
refused with a ``ProxyError``, never escaped: one newline in a value would be a directive of
its own (``stats admin if TRUE``). ``render_haproxy_config``, ``render_maps`` and
``plan_transition`` call these before writing a line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from shipyard.core.edge import check_message, parse_network
from shipyard.core.proxy_layout import Backend, MapFiles
from shipyard.errors import ProxyError

# The patterns the manifest's loader checks too (``manifest/checks.py`` imports them from here).
NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
# RFC 3986 path and query characters, less those HAProxy's parser reads specially (quotes,
# `#` comments, `\` escapes, `$` variables) and anything blank or a control character.
HTTP_PATH = re.compile(r"^/[A-Za-z0-9._~%/:@!&=+,;*()-]*(\?[A-Za-z0-9._~%/:@!&=+,;*()?-]*)?$")
MAX_PATH = 1024
OCTET = r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
ADDRESS = re.compile(
    rf"^{OCTET}(\.{OCTET}){{3}}:(6553[0-5]|655[0-2]\d|65[0-4]\d\d|6[0-4]\d{{3}}|[1-5]?\d{{1,4}})$"
)
SERVER = re.compile(r"^(blue|green)-\d{1,2}$")
FILE_PATH = re.compile(r"^/[A-Za-z0-9._/+@:-]{0,4000}$")
# A Unix socket HAProxy connects to, relative to its working folder: HAProxy's limit is 97.
SOCKET_PATH = re.compile(r"^[A-Za-z0-9._/+@:-]{1,97}$")
COLOUR = re.compile(r"^(blue|green|none)$")
PROTO = re.compile(r"^https?$")
# a path prefix without its query or a trailing slash: /api, /api/v2
PREFIX = re.compile(r"^(/[A-Za-z0-9._~%:@!&=+,;*()-]+){1,20}$")
MAX_BODY = 2**40
LONGEST_MS = 86_400_000


def check_backend(be: Backend) -> None:
    """Refuse ``be`` if any value that reaches the configuration or a runtime command is unsafe."""
    where = f"environment {be.env[:40]!r}"
    _match(NAME, be.env, "an environment name", where)
    _match(ADDRESS, be.bind, "a bind address (IPv4:port)", where)
    if len(be.health_path) > MAX_PATH:
        _refuse("a health-check path", be.health_path, where)
    _match(HTTP_PATH, be.health_path, "a health-check path", where)
    for value in (be.active or "none", be.canary or "none"):
        _match(COLOUR, value, "a colour", where)
    for name, number in (
        ("check interval", be.check_interval_ms),
        ("check timeout", be.check_timeout_ms),
        ("rise", be.rise),
        ("fall", be.fall),
        ("canary weight", be.canary_weight),
    ):
        if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number <= LONGEST_MS:
            _refuse(f"a {name}", str(number), where)
    for srv in be.servers:
        _match(SERVER, srv.name, "a server name", where)
        if srv.address is not None:
            _match(ADDRESS, srv.address, "a server address (IPv4:port)", where)
    check_edge(be, where)


def check_edge(be: Backend, where: str) -> None:
    """The edge rules and the maintenance page: networks, prefixes, numbers, the scheme, the text."""
    rules = be.edge
    _match(PROTO, rules.proto, "a scheme", where)
    state = be.maintenance
    for net in (*rules.allow, *rules.deny, *(state.allow if state else ())):
        if not isinstance(net, str) or _network(net) != net:
            _refuse("a client network", net, where)
    if state is not None and _message(state.message) is None:
        _refuse("a maintenance message", state.message, where)
    if rules.max_body is not None and not 0 < rules.max_body <= MAX_BODY:
        _refuse("a body size", rules.max_body, where)
    for limit in rules.rate_limits:
        if not 0 < limit.requests <= 10**9 or not 0 < limit.per_ms <= LONGEST_MS:
            _refuse("a rate limit", f"{limit.requests}/{limit.per}s", where)
        if limit.prefix is not None:
            _match(PREFIX, limit.prefix, "a path prefix", where)
    tls = rules.tls
    if tls is not None:
        if not 0 < tls.port < 65536 or tls.min_version not in ("1.2", "1.3"):
            _refuse("an HTTPS listener", f"port {tls.port}, TLS {tls.min_version}", where)
        if tls.hsts is not None and not 0 <= tls.hsts.max_age <= 10**10:
            _refuse("an HSTS max-age", tls.hsts.max_age, where)


def _network(value: str) -> str | None:
    try:
        return parse_network(value)
    except ValueError:
        return None


def _message(value: str) -> str | None:
    try:
        return check_message(value)
    except ValueError:
        return None


def check_files(paths: Iterable[str], where: str) -> None:
    """Refuse a file path (socket, map) with anything but plain path characters."""
    for path in paths:
        _match(FILE_PATH, path, "a file path", where)


def check_maps(maps: MapFiles) -> None:
    check_files((maps.colours, maps.weights, maps.maintenance), "the routing maps")


def check_socket(value: str | None, what: str) -> None:
    """A Unix socket HAProxy connects to (the access log's receiver)."""
    if value is not None:
        _match(SOCKET_PATH, value, what, "the global section")


def check_target(value: str | None, what: str) -> None:
    """A listening address of Shipyard's own (the stats page)."""
    if value is not None:
        _match(ADDRESS, value, what, "the global section")


def _match(pattern: re.Pattern[str], value: str, what: str, where: str) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        _refuse(what, value, where)


def _refuse(what: str, value: object, where: str) -> None:
    shown = repr(value)[:80]
    raise ProxyError(
        f"refusing to write {what} {shown} into HAProxy's configuration ({where}): "
        "it is outside the allowed pattern",
        "fix the value in shipyard.yaml (or the Shipyard home's path); "
        "Shipyard refuses such values rather than escaping them",
    )
