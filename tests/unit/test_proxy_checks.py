"""The renderer refuses values outside their patterns (second line of defence), never escapes."""

from __future__ import annotations

import dataclasses

import pytest

from shipyard.core.proxy import plan_transition, render_haproxy_config, render_maps
from shipyard.core.proxy_layout import Backend, MapFiles, ProxyLayout, Server
from shipyard.errors import ProxyError

MAPS = MapFiles("/run/colours.map", "/run/weights.map", "/run/maintenance.map")
GOOD = Backend(
    "dev", "127.0.0.1:8080", "/health", 250, 1, 3, (Server("blue", 0, "127.0.0.1:9001"),), active="blue"
)
INJECTED = "\n    stats enable\n    stats admin if TRUE"


def render(be: Backend, socket: str = "/run/admin.sock", log_target: str | None = None) -> str:
    return render_haproxy_config(ProxyLayout((be,)), socket, None, MAPS, log_target)


@pytest.mark.parametrize(
    ("change", "what"),
    [
        ({"bind": "127.0.0.1:8080" + INJECTED}, "a bind address"),
        ({"bind": "127.0.0.1"}, "a bind address"),
        ({"bind": "127.0.0.1:70000"}, "a bind address"),
        ({"health_path": "/health" + INJECTED}, "a health-check path"),
        ({"health_path": "/health #"}, "a health-check path"),
        ({"health_path": "/" + "a" * 2000}, "a health-check path"),
        ({"env": "dev" + INJECTED}, "an environment name"),
        ({"env": "dev x"}, "an environment name"),
        ({"active": "blue" + INJECTED}, "a colour"),
        ({"servers": (Server("blue", 0, "127.0.0.1:9001" + INJECTED),)}, "a server address"),
        ({"servers": (Server("blue\nx", 0, None),)}, "a server name"),
        ({"check_interval_ms": -1}, "a check interval"),
        ({"canary_weight": 10**12}, "a canary weight"),
    ],
)
def test_unsafe_backend_values_are_refused_by_every_renderer(change: dict[str, object], what: str) -> None:
    bad = dataclasses.replace(GOOD, **change)  # type: ignore[arg-type]
    for attempt in (
        lambda: render(bad),
        lambda: render_maps(ProxyLayout((bad,))),
        lambda: plan_transition(GOOD, bad, MAPS),
    ):
        with pytest.raises(ProxyError) as info:
            attempt()
        assert f"refusing to write {what}" in info.value.message
        assert "refuses such values rather than escaping" in info.value.hint


@pytest.mark.parametrize(
    ("socket", "log_target"),
    [
        ("/run/a dmin.sock", None),
        ("/run/admin.sock\nstats admin", None),
        ("/run/admin.sock", "../access log.sock"),
        ("/run/admin.sock", "../" + "a" * 100 + ".sock"),
        ("/run/admin.sock", "/home/sy/a.sock\nstats admin"),
    ],
)
def test_unsafe_global_values_are_refused(socket: str, log_target: str | None) -> None:
    with pytest.raises(ProxyError, match="refusing to write"):
        render(GOOD, socket, log_target)


def test_safe_values_render() -> None:
    text = render(GOOD, log_target="../accesslog/haproxy.sock")
    assert "server control-plane unix@../accesslog/haproxy.sock log-proto octet-count" in text
    assert "    bind 127.0.0.1:8080" in text
    assert "    option httpchk GET /health" in text
