"""``engine/apps/service.py`` over fakes (the engines, the host that opens them, the edge's
HAProxy): an app is validated, opened, put on the edge and only then recorded, so a failure at
any step leaves the registry, the edge and the open apps as they were; ``remove`` refuses while
the app serves unless forced; an app that fails to open at start is listed as failed."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from shipyard.core.edge_config import EdgePorts
from shipyard.engine.apps.edge import SharedEdge
from shipyard.engine.apps.registry import AppsRegistry
from shipyard.engine.apps.service import Apps
from shipyard.errors import ConflictError, ManifestError, NotFoundError, ProxyError
from shipyard.home import Paths
from shipyard.manifest.loader import load_manifest
from shipyard.manifest.models import Manifest


def write_app(folder: Path, name: str, *domains: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "app": name,
        "processes": {"web": {"command": "x"}},
        "environments": {"dev": {"port": 8080, "edge": {"domains": list(domains)}}},
    }
    (folder / "shipyard.yaml").write_text(yaml.safe_dump(data))
    return folder


def fake_engine(paths: Paths, manifest: Manifest, serving: bool = False) -> Any:
    route = SimpleNamespace(active_release="r1" if serving else None)
    store = SimpleNamespace(route=lambda env: route)
    return SimpleNamespace(ctx=SimpleNamespace(manifest=manifest, paths=paths, store=store))


class Host:
    def __init__(self) -> None:
        self.opened: dict[str, Any] = {}
        self.closed: list[tuple[str, bool]] = []
        self.fail: Exception | None = None
        self.serving = False

    def open(self, name: str, paths: Paths) -> Any:
        if self.fail is not None:
            raise self.fail
        engine = fake_engine(paths, load_manifest(paths.manifest), self.serving)
        self.opened[name] = engine
        return engine

    def close(self, name: str, paths: Paths, engine: Any, stop_apps: bool) -> None:
        self.closed.append((name, stop_apps))
        self.opened.pop(name, None)


class Driver:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.socket_path = folder / "admin.sock"
        self.texts: list[str] = []
        self.fail = False

    def apply(self, text: str) -> bool:
        if self.fail:
            raise ProxyError("HAProxy rejected the configuration", "bug")
        self.texts.append(text)
        return True

    def stop(self) -> None:
        pass


@pytest.fixture
def rig(tmp_path: Path) -> tuple[Apps, Host, Driver, AppsRegistry]:
    primary_dir = write_app(tmp_path / "main", "main", "main.test")
    paths = Paths(home=primary_dir / ".shipyard", app_dir=primary_dir)
    primary = fake_engine(paths, load_manifest(paths.manifest))
    driver = Driver(tmp_path / "main" / ".shipyard" / "edge")
    registry = AppsRegistry(tmp_path / "apps.json")
    host = Host()
    apps = Apps(primary, registry, SharedEdge(driver.folder, driver, EdgePorts(8000)), host)
    return apps, host, driver, registry


Rig = tuple[Apps, Host, Driver, AppsRegistry]


def test_add_opens_routes_and_records(rig: Rig, tmp_path: Path) -> None:
    apps, _, driver, registry = rig
    row = apps.add("blog", str(write_app(tmp_path / "blog", "blog", "blog.test")))
    assert row["state"] == "idle" and row["domains"] == ["blog.test"]
    assert registry.apps() == {"blog": tmp_path / "blog"}
    assert "use_backend http_blog_dev" in driver.texts[-1] and "http_main_dev" in driver.texts[-1]
    assert [r["name"] for r in apps.listing()] == ["main", "blog"]


def test_a_name_claimed_twice_is_refused_before_anything_opens(
    rig: tuple[Apps, Host, Driver, AppsRegistry], tmp_path: Path
) -> None:
    apps, host, driver, registry = rig
    with pytest.raises(ManifestError, match="already claimed by environment 'dev' of app 'main'"):
        apps.add("blog", str(write_app(tmp_path / "blog", "blog", "MAIN.test")))
    assert host.opened == {} and driver.texts == [] and registry.apps() == {}


def test_an_app_that_fails_to_open_is_not_recorded(
    rig: tuple[Apps, Host, Driver, AppsRegistry], tmp_path: Path
) -> None:
    apps, host, driver, registry = rig
    host.fail = ProxyError("HAProxy exited at start: port taken", "free it")
    with pytest.raises(ProxyError):
        apps.add("blog", str(write_app(tmp_path / "blog", "blog", "blog.test")))
    assert registry.apps() == {} and driver.texts == []


def test_an_edge_that_refuses_closes_the_app_again(
    rig: tuple[Apps, Host, Driver, AppsRegistry], tmp_path: Path
) -> None:
    apps, host, driver, registry = rig
    driver.fail = True
    with pytest.raises(ProxyError):
        apps.add("blog", str(write_app(tmp_path / "blog", "blog", "blog.test")))
    assert host.closed == [("blog", True)] and host.opened == {} and registry.apps() == {}


@pytest.mark.parametrize(
    ("name", "folder", "error", "text"),
    [
        ("Blog", "blog", Exception, "is not an app name"),
        ("main", "blog", ConflictError, "is taken"),
        ("other", "main", ConflictError, "is already served as app 'main'"),
        ("blog", "relative", Exception, "is not an absolute path"),
    ],
)
def test_names_and_folders_are_checked(
    rig: tuple[Apps, Host, Driver, AppsRegistry],
    tmp_path: Path,
    name: str,
    folder: str,
    error: type,
    text: str,
) -> None:
    apps, host, _, registry = rig
    path = "relative/blog" if folder == "relative" else str(tmp_path / folder)
    with pytest.raises(error, match=text):
        apps.add(name, path)
    assert host.opened == {} and registry.apps() == {}


def test_remove_refuses_while_serving_unless_forced(
    rig: tuple[Apps, Host, Driver, AppsRegistry], tmp_path: Path
) -> None:
    apps, host, driver, registry = rig
    host.serving = True
    apps.add("blog", str(write_app(tmp_path / "blog", "blog", "blog.test")))
    with pytest.raises(ConflictError, match="still serves dev"):
        apps.remove("blog", force=False)
    assert registry.apps() and host.closed == []
    assert apps.remove("blog", force=True)["state"] == "removed"
    assert host.closed == [("blog", True)] and registry.apps() == {}
    assert "blog" not in driver.texts[-1]
    with pytest.raises(NotFoundError):
        apps.remove("blog", force=True)


def test_an_app_that_fails_at_start_is_listed_failed(
    rig: tuple[Apps, Host, Driver, AppsRegistry], tmp_path: Path
) -> None:
    apps, host, driver, registry = rig
    registry.add("blog", write_app(tmp_path / "blog", "blog", "blog.test"))
    host.fail = ProxyError("HAProxy exited at start", "free the port")
    lines = apps.start()
    apps.loop.stop()
    assert lines == [f"app blog ({tmp_path / 'blog'}) did not open: HAProxy exited at start"]
    (row,) = [r for r in apps.listing() if r["name"] == "blog"]
    assert row["state"] == "failed: HAProxy exited at start (free the port)"
    assert "blog" not in driver.texts[-1]  # the others are served
