"""Several apps on one control plane, through the real CLI and real HAProxys: ``shipyard apps
add|list|remove``, a registered app's own CLI and API at ``/apps/NAME`` (deploy, status), both
apps on one shared edge port routed by Host with an unknown host answered 404, the apps opened
again by a restarted control plane, names a deployment adds reaching the edge (and one claimed
twice not: its sync fails in /health while the edge keeps its last good configuration), a host
name claimed twice refused by ``apps add`` with the edge still serving, ``remove`` refused while
the app serves unless ``--force``, and HTTPS through the edge by SNI to the app's own TLS."""

from __future__ import annotations

import shutil
import socket
import ssl
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integration.conftest import Shipyard
from tests.integration.ports import free_port
from tests.unit.ca import CA

pytestmark = pytest.mark.integration


HTTPS: dict[int, int] = {}  # the shared edge's HTTPS port, by its HTTP port


def up_args(sy: Shipyard, edge: int) -> list[str]:
    """``shipyard up`` with the shared edge on ``edge`` (HTTP) and ``HTTPS[edge]``."""
    ports = ["--edge-http-port", str(edge), "--edge-https-port", str(HTTPS[edge])]
    return ["up", "--api-port", str(sy.api_port), *ports, "--edge-bind", "127.0.0.1"]


@pytest.fixture
def root() -> Iterator[Path]:
    """A short folder for the homes: HAProxy takes socket paths of at most 97 characters, and
    pytest's own folders under xdist come close to that before the homes add theirs."""
    made = Path(tempfile.mkdtemp(prefix="sy-apps-"))
    yield made
    shutil.rmtree(made, ignore_errors=True)


@pytest.fixture
def pair(root: Path, venv_cache: Path) -> Iterator[tuple[Shipyard, Shipyard, int]]:
    (root / "one").mkdir()
    (root / "two").mkdir()
    one, two = Shipyard(root / "one", venv_cache), Shipyard(root / "two", venv_cache)
    two.home = two.app / ".shipyard"  # a registered app's home: where its own CLI looks
    one.manifest["environments"]["dev"]["edge"] = {"domains": ["one.test"]}
    two.manifest["environments"]["dev"]["edge"] = {"domains": ["two.test", "*.two.test"]}
    one.write_manifest()
    two.write_manifest()
    two.use("v2")
    edge = free_port()
    HTTPS[edge] = free_port()
    try:
        one.cli(*up_args(one, edge))
        yield one, two, edge
    finally:
        one.cleanup()
        two.cleanup()


def through_edge(port: int, host: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": host}, timeout=10, trust_env=False)


def eventually(check: Callable[[], bool], timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def edge_loop(sy: Shipyard) -> dict[str, Any]:
    """The shared edge's sync loop in the primary's ``/health``."""
    with sy.api() as api:
        checks = api.get("/health").json()["checks"]
    return next(c for entries in checks.values() for c in entries if c.get("componentId") == "shared-edge")


def names(listing: str) -> list[str]:
    return [line.split()[0] for line in listing.splitlines() if line and not line.startswith(" ")]


def test_two_apps_on_one_edge_port(
    pair: tuple[Shipyard, Shipyard, int], root: Path, venv_cache: Path
) -> None:
    one, two, edge = pair
    added = one.cli("apps", "add", "two", str(two.app)).stdout
    assert "two" in added and "two.test" in added
    assert (two.home / "server.json").exists() and "/apps/two" in (two.home / "server.json").read_text()
    one.cli("deploy")
    two.cli("deploy")  # the registered app's own CLI, in its folder, through /apps/two
    assert "dev" in two.cli("status").stdout  # its own status, not the primary's
    second = two.cli("up", "--api-port", str(free_port()), check=False)  # no second control plane
    assert second.returncode == 1 and "is already served at" in second.stderr
    assert "apps remove" in second.stderr
    assert through_edge(edge, "one.test").json()["version"].startswith("1")
    assert through_edge(edge, "two.test").json()["version"].startswith("2")
    assert through_edge(edge, "api.two.test").json()["version"].startswith("2")  # the wildcard
    unknown = through_edge(edge, "three.test")
    assert unknown.status_code == 404 and unknown.text == "no app serves this host name\n"
    assert httpx.get(two.app_url(), timeout=10).json()["version"].startswith("2")  # its own port too

    # a restarted control plane opens its registered apps again; the edge served all along
    one.cli("down", "--keep-apps")
    assert through_edge(edge, "two.test").json()["version"].startswith("2")
    one.cli(*up_args(one, edge))
    assert "dev" in two.cli("status").stdout
    assert through_edge(edge, "two.test").json()["version"].startswith("2")

    # names a deployment adds reach the edge; one another app then claims too does not (the
    # edge keeps its last good configuration, and its loop's failure shows in /health)
    one.manifest["environments"]["dev"]["edge"]["domains"].append("www.one.test")
    one.write_manifest()
    one.cli("deploy")
    assert eventually(lambda: through_edge(edge, "www.one.test").status_code == 200)
    two.manifest["environments"]["dev"]["edge"]["domains"].append("www.one.test")
    two.write_manifest()
    two.cli("deploy")
    assert eventually(lambda: edge_loop(one)["status"] == "warn")
    assert edge_loop(one)["observedValue"] >= 1
    assert through_edge(edge, "www.one.test").json()["version"].startswith("1")
    two.manifest["environments"]["dev"]["edge"]["domains"].remove("www.one.test")
    two.write_manifest()
    two.cli("deploy")
    assert eventually(lambda: edge_loop(one)["observedValue"] == 0)

    listed = one.cli("apps", "list").stdout
    assert "notes" in listed and "primary" in listed
    assert "two" in listed and "serving" in listed and "two.test, *.two.test" in listed

    # a third app claiming one.test: refused with both places named; nothing changed
    (root / "three").mkdir()
    three = Shipyard(root / "three", venv_cache)
    three.manifest["environments"]["dev"]["edge"] = {"domains": ["ONE.test"]}
    three.write_manifest()
    refused = one.cli("apps", "add", "three", str(three.app), check=False)
    assert refused.returncode == 1
    assert "environments.dev.edge.domains[0]: the host name 'one.test' is already claimed" in refused.stderr
    assert "Try:" in refused.stderr
    assert through_edge(edge, "one.test").status_code == 200
    assert names(one.cli("apps", "list").stdout) == ["notes", "two"]
    assert not (three.app / ".shipyard" / "server.json").exists()

    # remove: refused while serving, then forced: off the edge, its API gone
    busy = one.cli("apps", "remove", "two", check=False)
    assert busy.returncode == 1 and "still serves dev" in busy.stderr and "--force" in busy.stderr
    assert through_edge(edge, "two.test").status_code == 200
    stopped = two.cli("down").stdout  # in the app's folder: that app only
    assert "the control plane serves the others" in stopped
    assert eventually(lambda: not two.processes())
    assert through_edge(edge, "one.test").status_code == 200
    one.cli("apps", "remove", "two", "--force")
    assert through_edge(edge, "two.test").status_code == 404
    assert through_edge(edge, "one.test").status_code == 200
    assert names(one.cli("apps", "list").stdout) == ["notes"]
    assert not (two.home / "server.json").exists()
    assert not two.processes()  # its instances and HAProxy stopped


def test_an_app_that_is_not_valid_is_not_recorded(pair: tuple[Shipyard, Shipyard, int]) -> None:
    one, two, _ = pair
    (two.app / "shipyard.yaml").write_text("app: two\nenvironments: {dev: {port: nope}}\n")
    bad = one.cli("apps", "add", "two", str(two.app), check=False)
    assert bad.returncode == 1 and "shipyard.yaml" in bad.stderr
    missing = one.cli("apps", "add", "gone", str(two.app / "nowhere"), check=False)
    assert missing.returncode == 1
    taken = one.cli("apps", "add", "notes", str(two.app), check=False)
    assert taken.returncode == 1 and "is taken" in taken.stderr
    assert not (one.home / "apps.json").exists()


def test_https_by_sni_through_the_shared_edge(pair: tuple[Shipyard, Shipyard, int]) -> None:
    one, _, edge = pair
    ca = CA()
    issued = ca.issue("one.test")
    one.cli("secrets", "set", "dev", "TLS_KEY", input=issued.key)
    (one.app / "cert.pem").write_text(issued.cert)
    one.manifest["environments"]["dev"]["edge"] = {
        "https_port": free_port(),
        "domains": ["one.test"],
        "tls": {"cert": "cert.pem", "key_secret": "TLS_KEY"},
    }
    one.write_manifest()
    one.cli("deploy")
    context = ssl.create_default_context(cadata=ca.pem)

    def get() -> httpx.Response:
        with httpx.Client(verify=context, timeout=10, trust_env=False) as client:
            return client.get(f"https://127.0.0.1:{HTTPS[edge]}/", extensions={"sni_hostname": "one.test"})

    assert eventually(lambda: _answers(get))  # the edge picks the new HTTPS socket up
    got = get()
    assert got.status_code == 200 and got.json()["version"].startswith("1")
    with (  # a name nobody serves: closed, no certificate shown
        socket.create_connection(("127.0.0.1", HTTPS[edge]), timeout=5) as raw,
        pytest.raises((ssl.SSLError, ConnectionResetError)),
    ):
        context.wrap_socket(raw, server_hostname="other.test")


def _answers(get: Callable[[], httpx.Response]) -> bool:
    try:
        return get().status_code == 200
    except httpx.HTTPError:
        return False
