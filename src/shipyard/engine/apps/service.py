"""Several apps in one control plane (``shipyard apps add|list|remove``, ``server/apps.py``).

The app ``shipyard up`` started from is the primary: its API stays at ``/``. Each registered app
(``engine/apps/registry.py``) gets an Engine of its own (its home, ``<folder>/.shipyard``: its
state, vault, HAProxy and loops), opened by the ``Host`` the composition root gives
(``runtime.py``: built, started, its API mounted at ``/apps/NAME`` and that URL written to its
``server.json``, so the CLI run in the app's folder works unchanged). The shared edge
(``engine/apps/edge.py``) serves every app's ``edge.domains``.

An app is validated before it is recorded: its name, its folder and shipyard.yaml, and its host
names against every other app's; then opened, then put on the edge, then recorded, so a failure
at any step leaves the registry, the edge and the running apps as they were.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from shipyard.core.edge_routes import NAME
from shipyard.drivers.loops import Loop, LoopOwner
from shipyard.engine.apps.edge import SharedEdge, Site
from shipyard.engine.apps.registry import AppsRegistry
from shipyard.engine.engine import Engine
from shipyard.errors import ConflictError, InputError, NotFoundError, ShipyardError
from shipyard.home import Paths
from shipyard.manifest.loader import load_manifest


class Host(Protocol):
    """How an app's engine is opened and closed (``runtime.py`` ``AppHost``)."""

    def open(self, name: str, paths: Paths) -> Engine: ...

    def close(self, name: str, paths: Paths, engine: Engine, stop_apps: bool) -> None: ...


@dataclass
class Hosted:
    name: str
    paths: Paths
    engine: Engine | None  # None: it failed to open at start (``error`` says why)
    error: str = ""

    def site(self) -> Site | None:
        if self.engine is None:
            return None
        return Site(self.name, self.paths.manifest, self.engine.ctx.manifest, self.paths.proxy)


def paths_of(folder: Path) -> Paths:
    """A registered app's folders: its shipyard.yaml in ``folder``, its home in ``folder/.shipyard``
    (where the CLI run in that folder looks by default)."""
    return Paths(home=folder / ".shipyard", app_dir=folder)


EDGE_SYNC_S = 2.0  # how soon a deployment's new `edge.domains` reach the shared edge


class Apps(LoopOwner):
    def __init__(self, primary: Engine, registry: AppsRegistry, edge: SharedEdge, host: Host) -> None:
        self.primary = primary
        self.registry = registry
        self.edge = edge
        self.host = host
        self._hosted: dict[str, Hosted] = {}
        self._lock = threading.Lock()
        # a deployment reads its shipyard.yaml again: its names may have changed. A name now
        # claimed twice is this loop's error (``/health``); the edge keeps its last good config.
        self.loop = Loop("shared-edge", self._resync, EDGE_SYNC_S, initial_delay=EDGE_SYNC_S)

    def start(self) -> list[str]:
        """Open every registered app and serve them all on the edge; what happened, as lines."""
        lines = []
        for name, folder in self.registry.apps().items():
            paths = paths_of(folder)
            try:
                self._hosted[name] = Hosted(name, paths, self.host.open(name, paths))
                lines.append(f"app {name} ({folder}) serves at /apps/{name}")
            except ShipyardError as exc:
                self._hosted[name] = Hosted(name, paths, None, f"{exc.message} ({exc.hint})")
                lines.append(f"app {name} ({folder}) did not open: {exc.message}")
        try:
            self.edge.sync(self._sites())
        except ShipyardError as exc:
            lines.append(f"the shared edge kept its last configuration: {exc.message}")
        self.loop.start()
        return lines

    def _resync(self) -> None:
        with self._lock:
            self.edge.sync(self._sites())

    def add(self, name: str, folder: str) -> dict[str, Any]:
        with self._lock:
            paths = self._check_new(name, folder)
            site = Site(name, paths.manifest, load_manifest(paths.manifest), paths.proxy)
            self.edge.routes([*self._sites(), site])  # a name claimed twice: refused here
            engine = self.host.open(name, paths)
            hosted = Hosted(name, paths, engine)
            try:
                self.edge.sync([*self._sites(), *filter(None, [hosted.site()])])
            except BaseException:  # the edge refused it: the app goes as it came
                self.host.close(name, paths, engine, stop_apps=True)
                raise
            self.registry.add(name, paths.app_dir)
            self._hosted[name] = hosted
            return self._row(hosted)

    def remove(self, name: str, force: bool) -> dict[str, Any]:
        with self._lock:
            hosted = self._hosted.get(name)
            if hosted is None:
                raise NotFoundError(f"no app {name!r} is registered", "see `shipyard apps list`")
            serving = _serving(hosted.engine)
            if serving and not force:
                raise ConflictError(
                    f"app {name!r} still serves {', '.join(serving)}",
                    f"`shipyard apps remove {name} --force` takes it off the edge and stops its "
                    "instances and its HAProxy",
                )
            row = self._row(hosted)
            self.edge.sync([s for s in self._sites() if s.name != name])
            if hosted.engine is not None:
                self.host.close(name, hosted.paths, hosted.engine, stop_apps=True)
            self.registry.remove(name)
            del self._hosted[name]
            return {**row, "state": "removed"}

    def listing(self) -> list[dict[str, Any]]:
        ctx = self.primary.ctx
        primary = Hosted(ctx.manifest.app, ctx.paths, self.primary)
        return [self._row(primary, "primary")] + [self._row(h) for h in self._hosted.values()]

    def close(self, stop_apps: bool = False) -> None:
        """Close every registered app's engine (``stop_apps``: their instances and HAProxys too,
        and the edge), as the primary's at the control plane's exit."""
        self.loop.stop()
        with self._lock:
            for hosted in self._hosted.values():
                if hosted.engine is not None:
                    self.host.close(hosted.name, hosted.paths, hosted.engine, stop_apps)
            self._hosted.clear()
            if stop_apps:
                self.edge.stop()

    def _sites(self) -> list[Site]:
        primary = Hosted(self.primary.ctx.manifest.app, self.primary.ctx.paths, self.primary)
        hosted = [primary, *self._hosted.values()]
        return [site for site in (h.site() for h in hosted) if site is not None]

    def _check_new(self, name: str, folder: str) -> Paths:
        if not NAME.match(name):
            raise InputError(
                f"{name[:60]!r} is not an app name",
                "use lower-case letters, digits and dashes, starting with a letter (at most 40)",
            )
        path = Path(folder)
        if not path.is_absolute():
            raise InputError(f"{folder[:200]!r} is not an absolute path", "give the app's folder in full")
        taken = {self.primary.ctx.manifest.app: self.primary.ctx.paths.app_dir.resolve()}
        taken.update({h.name: h.paths.app_dir.resolve() for h in self._hosted.values()})
        if name in taken:
            raise ConflictError(f"the app name {name!r} is taken", "pick another name (`shipyard apps list`)")
        owner = next((n for n, f in taken.items() if f == path.resolve()), None)
        if owner is not None:
            raise ConflictError(f"{folder} is already served as app {owner!r}", "see `shipyard apps list`")
        return paths_of(path.resolve())

    def _row(self, hosted: Hosted, state: str = "") -> dict[str, Any]:
        manifest = hosted.engine.ctx.manifest if hosted.engine is not None else None
        envs = list(manifest.environments) if manifest else []
        domains = [d for e in envs for d in manifest.environments[e].edge.domains] if manifest else []
        serving = _serving(hosted.engine)
        if not state:
            state = f"failed: {hosted.error}" if hosted.engine is None else "serving" if serving else "idle"
        return {
            "name": hosted.name,
            "path": str(hosted.paths.app_dir),
            "environments": envs,
            "domains": domains,
            "serving": serving,
            "state": state,
        }


def _serving(engine: Engine | None) -> list[str]:
    """The environments of ``engine`` with a release in traffic."""
    if engine is None:
        return []
    store = engine.ctx.store
    return [env for env in engine.ctx.manifest.environments if store.route(env).active_release]
