"""The apps' smaller parts: the manifest refusing a malformed host name with its key path, the
registry file (written whole, an unreadable one an error that names it, never an empty list),
the mux that sends ``/apps/NAME/...`` to that app's API with the prefix taken off, and the
edge's routes of a manifest (sockets relative to the edge's folder, HTTPS only with TLS)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import MutableMapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from shipyard.cli.connection import Connection
from shipyard.engine.apps.edge import Site, routes_of
from shipyard.engine.apps.registry import AppsRegistry
from shipyard.errors import ManifestError, StateError
from shipyard.manifest.loader import parse_manifest
from shipyard.server.apps_mux import AppsMux

BASE = "app: a\nprocesses: {web: {command: x}}\n"


def manifest(environments: str) -> Any:
    return parse_manifest(yaml.safe_load(BASE + environments), "shipyard.yaml")


def test_a_malformed_host_name_is_refused_with_its_key_path() -> None:
    with pytest.raises(ManifestError) as exc:
        manifest("environments:\n  dev: {port: 8080, edge: {domains: ['bad name.com']}}\n")
    assert "environments.dev.edge.domains" in exc.value.message


def test_routes_of_a_manifest(tmp_path: Path) -> None:
    spec = manifest(
        "environments:\n  dev: {port: 8080, edge: {domains: [dev.example.com]}}\n  ops: {port: 8082}\n"
    )
    site = Site("shop", tmp_path / "shop" / "shipyard.yaml", spec, tmp_path / "shop" / ".shipyard" / "proxy")
    (route,) = routes_of(site, tmp_path / "home" / "edge")
    assert route.env == "dev" and route.domains == ("dev.example.com",)
    assert route.http_socket == "../../shop/.shipyard/proxy/edge-dev-http.sock"
    assert route.https_socket is None  # no TLS: not on the HTTPS port
    assert route.where == f"{tmp_path}/shop/shipyard.yaml: environments.dev.edge.domains"


def test_the_registry_round_trips_and_refuses_an_unreadable_file(tmp_path: Path) -> None:
    registry = AppsRegistry(tmp_path / "apps.json")
    assert registry.apps() == {}
    registry.add("shop", tmp_path / "shop")
    registry.add("blog", tmp_path / "blog")
    registry.remove("shop")
    assert registry.apps() == {"blog": tmp_path / "blog"}
    assert (tmp_path / "apps.json").stat().st_mode & 0o777 == 0o600
    (tmp_path / "apps.json").write_text("{not json")
    with pytest.raises(StateError, match=r"apps\.json is unreadable"):
        registry.apps()
    (tmp_path / "apps.json").write_text("[]")
    with pytest.raises(StateError, match="has no `apps` table"):
        registry.apps()


def recorder(name: str, seen: list[tuple[str, str, str]]) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append((name, scope["path"], scope.get("root_path", "")))

    return app


async def never_receive() -> MutableMapping[str, Any]:
    raise AssertionError("the recorder does not read the body")


async def never_send(message: MutableMapping[str, Any]) -> None:
    raise AssertionError("the recorder does not answer")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/status", ("primary", "/api/status", "")),
        ("/apps/shop/api/status", ("shop", "/api/status", "/apps/shop")),
        ("/apps/shop", ("shop", "/", "/apps/shop")),
        ("/apps/shopping/api/status", ("primary", "/apps/shopping/api/status", "")),  # not a prefix
        ("/apps/blog/api/status", ("primary", "/apps/blog/api/status", "")),  # not mounted
    ],
)
def test_the_mux_sends_an_app_its_own_paths(path: str, expected: tuple[str, str, str]) -> None:
    seen: list[tuple[str, str, str]] = []
    mux = AppsMux(recorder("primary", seen))
    mux.mount("shop", recorder("shop", seen))
    scope = {"type": "http", "path": path, "raw_path": path.encode(), "root_path": ""}
    asyncio.run(mux(scope, never_receive, never_send))
    assert seen == [expected]


def test_an_unmounted_app_goes_back_to_the_primary() -> None:
    seen: list[tuple[str, str, str]] = []
    mux = AppsMux(recorder("primary", seen))
    mux.mount("shop", recorder("shop", seen))
    mux.unmount("shop")
    asyncio.run(mux({"type": "http", "path": "/apps/shop/x", "root_path": ""}, never_receive, never_send))
    assert seen == [("primary", "/apps/shop/x", "")]


def test_the_cli_fast_path_keeps_the_path_of_an_app_served_beside_others(tmp_path: Path) -> None:
    seen: list[str] = []

    class Api(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/apps/shop"
        (tmp_path / "server.json").write_text(json.dumps({"url": url}))
        (tmp_path / "token").write_text("sy_token\n")
        assert Connection(tmp_path).get("/api/status", env="dev") == {}
    finally:
        server.shutdown()
    assert seen == ["/apps/shop/api/status?env=dev"]
