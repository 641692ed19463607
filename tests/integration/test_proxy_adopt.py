"""A restarted control plane adopts the running HAProxy (``drivers/proxy/haproxy.py``): when
the configuration's shape is the one HAProxy runs, addresses and routing are set through the
runtime API and the worker stays (its connections and its access-log ring with it); a shape
it does not run (a new slot) is a hitless reload."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.ports import free_port

from shipyard.core.proxy_layout import Backend, ProxyLayout, Server
from shipyard.drivers.proxy.haproxy import HAProxy, find_haproxy

pytestmark = pytest.mark.integration


def layout(port: int, active: str, servers: tuple[Server, ...]) -> ProxyLayout:
    return ProxyLayout((Backend("dev", f"127.0.0.1:{port}", "/health", 1000, 1, 3, servers, False, active),))


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    HAProxy(tmp_path, find_haproxy()).stop()  # the adopted master, whoever started it


def routing(proxy: HAProxy) -> tuple[str, dict[str, tuple[str, bool]]]:
    """The colours map, and each green server's address and whether it is in maintenance."""
    colours = proxy.command(f"show map {proxy.maps.colours}")
    servers = {
        s.name: (s.address, s.status.startswith("MAINT"))
        for s in proxy.server_states()
        if s.backend == "be_dev_green"
    }
    return colours, servers


def test_an_adopted_haproxy_of_the_same_shape_is_not_reloaded(folder: Path) -> None:
    port = free_port()
    first = HAProxy(folder, find_haproxy())
    first.sync(layout(port, "blue", (Server("blue", 0, "127.0.0.1:9001"), Server("green", 0, None))))
    worker = first._worker_pid()

    again = HAProxy(folder, find_haproxy())  # a restarted control plane: routing unknown
    moved = (Server("blue", 0, "127.0.0.1:9001"), Server("green", 0, "127.0.0.1:9002"))
    again.sync(layout(port, "green", moved))
    assert again._worker_pid() == worker  # no reload
    colours, servers = routing(again)
    assert "dev.active green" in colours
    assert servers == {"green-0": ("127.0.0.1:9002", False)}  # was in maintenance, with no address

    grown = HAProxy(folder, find_haproxy())  # a new slot while it was down: a reload
    grown.sync(layout(port, "green", (*moved, Server("green", 1, "127.0.0.1:9003"))))
    assert grown._worker_pid() != worker
    assert "dev.active green" in routing(grown)[0]


def test_a_pid_file_without_a_shape_is_reloaded(folder: Path) -> None:
    port = free_port()
    servers = (Server("blue", 0, "127.0.0.1:9001"), Server("green", 0, None))
    first = HAProxy(folder, find_haproxy())
    first.sync(layout(port, "blue", servers))
    worker = first._worker_pid()
    record = folder / "haproxy.json"
    record.write_text(record.read_text().replace('"shape"', '"old"'))  # written by an older Shipyard
    HAProxy(folder, find_haproxy()).sync(layout(port, "blue", servers))
    assert HAProxy(folder, find_haproxy())._worker_pid() != worker
