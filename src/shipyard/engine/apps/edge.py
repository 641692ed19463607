"""The shared edge as the engine sees it: every hosted app's environments with ``edge.domains``
as routes (``core/edge_routes.py``), checked together and given to the edge's HAProxy.

Called by ``engine/apps/service.py`` at start and whenever an app is added or removed. Without
edge ports (``shipyard server --edge-http-port``) there is no edge process: the names are still
checked, so a name claimed twice is refused the same way.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shipyard.core.edge_config import EdgePorts, render_edge_config
from shipyard.core.edge_routes import Route, check_routes, edge_socket
from shipyard.manifest.models import Manifest


class EdgeDriver(Protocol):
    """The edge's HAProxy (``drivers/proxy/edge.py`` ``EdgeProxy``)."""

    folder: Path
    socket_path: Path

    def apply(self, text: str) -> bool: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class Site:
    """One app as the edge sees it: its name, manifest and its own HAProxy's folder."""

    name: str
    manifest_path: Path
    manifest: Manifest
    proxy_folder: Path


def routes_of(site: Site, edge_folder: Path) -> list[Route]:
    """``site``'s environments that have domains, their sockets named relative to the edge."""
    out = []
    for env, spec in site.manifest.environments.items():
        if not spec.edge.domains:
            continue

        def socket(scheme: str, env: str = env) -> str:
            path = site.proxy_folder.resolve() / edge_socket(env, scheme)
            return os.path.relpath(path, edge_folder.resolve())

        where = f"{site.manifest_path}: environments.{env}.edge.domains"
        https = socket("https") if spec.edge.tls is not None else None
        out.append(Route(site.name, env, spec.edge.domains, where, socket("http"), https))
    return out


class SharedEdge:
    def __init__(self, folder: Path, driver: EdgeDriver | None, ports: EdgePorts | None) -> None:
        self.folder = folder
        self.driver = driver
        self.ports = ports

    def routes(self, sites: Sequence[Site]) -> list[Route]:
        """Every route of ``sites``; a malformed name or one claimed twice raises (ManifestError)."""
        routes = [r for site in sites for r in routes_of(site, self.folder)]
        check_routes(routes)
        return routes

    def sync(self, sites: Sequence[Site]) -> None:
        """Serve ``sites`` on the edge; an error leaves the edge on its last good configuration."""
        routes = self.routes(sites)
        if self.driver is not None and self.ports is not None:
            self.driver.apply(render_edge_config(routes, self.ports, str(self.driver.socket_path)))

    def stop(self) -> None:
        if self.driver is not None:
            self.driver.stop()
