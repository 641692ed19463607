"""HAProxy's files (``drivers/proxy/haproxy.py``): a routing change replaces only the map it changes;
the configuration, rewritten when its text changes, stays as it is (no process is started)."""

from __future__ import annotations

from pathlib import Path

from shipyard.core.proxy_layout import Backend, ProxyLayout, Server
from shipyard.drivers.proxy.haproxy import HAProxy

SERVERS = (Server("blue", 0, "127.0.0.1:9001"), Server("green", 0, "127.0.0.1:9002"))


def layout(active: str, servers: tuple[Server, ...] = SERVERS) -> ProxyLayout:
    return ProxyLayout((Backend("dev", "127.0.0.1:8080", "/health", 250, 1, 3, servers, False, active),))


def inodes(folder: Path) -> dict[str, int]:
    return {name: (folder / name).stat().st_ino for name in ("haproxy.cfg", "colours.map", "weights.map")}


def test_a_switch_replaces_the_colours_map_alone(tmp_path: Path) -> None:
    proxy = HAProxy(tmp_path, "/usr/sbin/haproxy")
    proxy._write_config(layout("blue"))
    before = inodes(tmp_path)
    proxy._write_config(layout("green"))
    after = inodes(tmp_path)
    assert after["haproxy.cfg"] == before["haproxy.cfg"]
    assert after["weights.map"] == before["weights.map"]
    assert after["colours.map"] != before["colours.map"]
    assert "dev.active green" in (tmp_path / "colours.map").read_text()


def test_a_new_address_rewrites_the_config_and_a_missing_file_is_written_again(tmp_path: Path) -> None:
    proxy = HAProxy(tmp_path, "/usr/sbin/haproxy")
    proxy._write_config(layout("blue"))
    moved = (SERVERS[0], Server("green", 0, "127.0.0.1:9003"))
    proxy._write_config(layout("blue", moved))
    assert "127.0.0.1:9003" in (tmp_path / "haproxy.cfg").read_text()
    (tmp_path / "weights.map").unlink()
    proxy._write_config(layout("blue", moved))
    assert (tmp_path / "weights.map").read_text() == "dev 0\n"


def test_a_new_process_writes_every_file(tmp_path: Path) -> None:
    HAProxy(tmp_path, "/usr/sbin/haproxy")._write_config(layout("blue"))
    before = inodes(tmp_path)
    HAProxy(tmp_path, "/usr/sbin/haproxy")._write_config(layout("blue"))
    assert all(ino != before[name] for name, ino in inodes(tmp_path).items())
