"""The edge keys (``manifest/edge.py``), their rules (``core/edge.py``) and their HAProxy lines
(``core/proxy_edge.py``): bad input named by key path, what each rule renders, the maintenance
switch as runtime commands; ``haproxy -c`` accepts a configuration with every rule."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from shipyard.core.edge import EdgeRules, Maintenance, RateLimit, encoded_message, parse_network
from shipyard.core.proxy import render_haproxy_config
from shipyard.core.proxy_edge import maintenance_files, plan_maintenance
from shipyard.core.proxy_layout import Backend, MapFiles, ProxyLayout, Server
from shipyard.errors import ManifestError, ProxyError
from shipyard.manifest.edge import parse_body_size
from shipyard.manifest.loader import parse_manifest

MAPS = MapFiles("/run/colours.map", "/run/weights.map", "/run/maintenance.map")


def manifest(edge: dict[str, Any]) -> dict[str, Any]:
    return {
        "app": "demo",
        "processes": {"web": {"command": "python app.py"}},
        "environments": {"prod": {"port": 8080, "edge": edge}},
    }


def error_of(edge: dict[str, Any]) -> str:
    with pytest.raises(ManifestError) as info:
        parse_manifest(manifest(edge))
    return f"{info.value.message}\n{info.value.hint}"


def test_edge_keys_become_rules() -> None:
    edge = {
        "rate_limit": {"requests": 100, "per": "10s", "paths": {"/api/": {"requests": 5, "per": "1s"}}},
        "max_body": "10m",
        "allow": ["10.0.0.0/8", "192.168.1.7"],
        "deny": ["2001:db8::/32"],
        "sticky": "cookie",
    }
    loaded = parse_manifest(manifest(edge))
    rules = loaded.edge_rules("prod")
    assert rules.rate_limits == (RateLimit(100, 10.0), RateLimit(5, 1.0, "/api"))
    assert rules.max_body == 10 * 2**20
    assert rules.allow == ("10.0.0.0/8", "192.168.1.7/32") and rules.deny == ("2001:db8::/32",)
    assert rules.compression and loaded.sticky("prod")
    assert parse_manifest(manifest({})).edge_rules("prod") == EdgeRules()
    assert not parse_manifest(manifest({})).sticky("prod")


@pytest.mark.parametrize(
    ("edge", "where", "text"),
    [
        ({"allow": ["10.0.0.1/8"]}, "environments.prod.edge.allow[0]", "did you mean 10.0.0.0/8"),
        ({"deny": ["10.0.0.300/32"]}, "environments.prod.edge.deny[0]", "address/prefix"),
        ({"rate_limit": {"requests": -5}}, "environments.prod.edge.rate_limit.requests", "greater than"),
        ({"rate_limit": {"requests": 5, "per": -1}}, "environments.prod.edge.rate_limit.per", "negative"),
        (
            {"rate_limit": {"paths": {"/api": {"requests": 0, "per": "1s"}}}},
            "environments.prod.edge.rate_limit.paths./api.requests",
            "greater than",
        ),
        ({"rate_limit": {"paths": {"/": {"requests": 1, "per": "1s"}}}}, "paths", "every path"),
        ({"rate_limit": {"paths": {"/a b": {"requests": 1, "per": "1s"}}}}, "paths", "not a path prefix"),
        ({"max_body": "ten"}, "environments.prod.edge.max_body", "10m"),
        ({"sticky": "ip"}, "environments.prod.edge.sticky", "cookie"),
        ({"compresion": True}, "environments.prod.edge", "compression"),
    ],
)
def test_bad_edge_keys_name_their_path(edge: dict[str, Any], where: str, text: str) -> None:
    error = error_of(edge)
    assert where in error and text in error


@pytest.mark.parametrize(
    ("value", "size"),
    [("10m", 10 * 2**20), ("512k", 512 * 1024), ("1g", 2**30), (2048, 2048), ("3MiB", 3 * 2**20)],
)
def test_body_sizes(value: object, size: int) -> None:
    assert parse_body_size(value) == size


def backend(
    rules: EdgeRules,
    maintenance: Maintenance | None = None,
    address: str = "127.0.0.1:9001",
    bind: str = "127.0.0.1:8080",
) -> Backend:
    """Environment dev with blue serving on ``address`` (the integration tests use it too)."""
    servers = (Server("blue", 0, address), Server("green", 0, None))
    return Backend(
        "dev", bind, "/health", 1000, 1, 3, servers, active="blue", edge=rules, maintenance=maintenance
    )


def config(rules: EdgeRules) -> str:
    return render_haproxy_config(ProxyLayout((backend(rules),)), "/run/admin.sock", None, MAPS)


def test_rate_limits_count_only_what_they_let_through() -> None:
    text = config(
        EdgeRules(rate_limits=(RateLimit(100, 10.0), RateLimit(5, 1.0, "/api"), RateLimit(2, 1.0, "/api/v2")))
    )
    assert "stick-table type ipv6 size 100k expire 20000ms store gpc0,gpc0_rate(10000ms)" in text
    assert "http-request track-sc0 src table rl_dev_0" in text
    assert "hdr Retry-After 10 if { sc_gpc0_rate(0) ge 100 }" in text
    # the longest prefix is tracked first, so /api/v2/x counts under /api/v2 only
    assert text.index("track-sc1 src table rl_dev_2") < text.index("track-sc1 src table rl_dev_1")
    assert "acl sy_rl_1 path_beg /api/" in text and "acl sy_rl_1 path /api" in text
    assert text.index("sc_gpc0_rate(1) ge 5") < text.index("sc-inc-gpc0(0)")


def test_each_rule_renders_only_when_set() -> None:
    plain = config(EdgeRules(compression=False))
    for absent in ("stick-table", "status 413", "status 403", "compression algo"):
        assert absent not in plain
    assert "set-header X-Forwarded-For %[src]" in plain
    full = config(EdgeRules(max_body=1024, allow=("10.0.0.0/8",), deny=("10.1.0.0/16",)))
    assert "if { req.hdr_val(content-length) gt 1024 }" in full
    assert "acl sy_allowed src 10.0.0.0/8" in full and "acl sy_denied src 10.1.0.0/16" in full
    assert "compression algo gzip" in full


@pytest.mark.parametrize(
    "rules",
    [
        EdgeRules(allow=("10.0.0.0/8 if TRUE",)),
        EdgeRules(deny=("10.0.0.1/8",)),
        EdgeRules(rate_limits=(RateLimit(5, 1.0, "/api\n    stats admin if TRUE"),)),
        EdgeRules(rate_limits=(RateLimit(-1, 1.0),)),
        EdgeRules(proto="ftp"),
    ],
)
def test_unsafe_rules_are_refused_not_rendered(rules: EdgeRules) -> None:
    with pytest.raises(ProxyError):
        config(rules)


def test_maintenance_switches_through_the_map_and_the_allow_list() -> None:
    off = backend(EdgeRules())
    on = backend(EdgeRules(), Maintenance("Back soon; really", allow=("10.0.0.0/8",)))
    acl = "/run/maintenance-allow-dev.acl"
    assert plan_maintenance(off, on, MAPS) == [
        f"clear acl {acl}",
        f"add acl {acl} 10.0.0.0/8",
        "set map /run/maintenance.map dev.msg Back%20soon%3B%20really",
        "set map /run/maintenance.map dev on",
    ]
    assert plan_maintenance(on, off, MAPS) == ["set map /run/maintenance.map dev off", f"clear acl {acl}"]
    assert plan_maintenance(on, on, MAPS) == []
    files = maintenance_files(ProxyLayout((on,)), MAPS)
    assert files[acl] == "10.0.0.0/8\n"
    assert files["/run/maintenance.map"] == f"dev on\ndev.msg {encoded_message('Back soon; really')}\n"
    assert ProxyLayout((on,)).shape() == ProxyLayout((off,)).shape()  # no reload to switch it


def test_networks_are_normalised_or_refused() -> None:
    assert parse_network("192.168.1.7") == "192.168.1.7/32"
    with pytest.raises(ValueError, match=r"did you mean 10\.0\.0\.0/8"):
        parse_network("10.0.0.1/8")


@pytest.mark.skipif(
    shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists(), reason="no HAProxy"
)
def test_haproxy_accepts_a_configuration_with_every_rule(tmp_path: Path) -> None:
    maps = MapFiles(*(str(tmp_path / n) for n in ("c.map", "w.map", "m.map")))
    rules = EdgeRules(
        rate_limits=(RateLimit(100, 10.0), RateLimit(5, 1.0, "/api")),
        max_body=1024,
        allow=("10.0.0.0/8", "2001:db8::/32"),
        deny=("10.1.0.0/16",),
    )
    layout = ProxyLayout((backend(rules, Maintenance(allow=("10.2.0.0/16",))),))
    for path, body in maintenance_files(layout, maps).items():
        Path(path).write_text(body)
    for path in (maps.colours, maps.weights):
        Path(path).write_text("")
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(render_haproxy_config(layout, str(tmp_path / "admin.sock"), None, maps) + "\n")
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    done = subprocess.run([binary, "-c", "-f", str(cfg)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
