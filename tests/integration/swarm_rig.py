"""The Swarm test rig: a local Docker registry and two private dockerd joined as a swarm, each
node with an address of its own.

Used by the swarm tests and ``bench/zero_downtime.py --runtime swarm``. Both daemons are
``docker_rig``'s (own roots and sockets, host networking only, the offline base image
imported). The first, the manager, runs here; the second, the worker, runs in a network
namespace of its own (``netns.py``: a veth pair, ``198.18.<n>.1`` here and ``198.18.<n>.2``
there), so that its tasks have their own ports as on a second machine: a task moved off a
drained node binds its port at once. The manager runs ``swarm init`` on its side's address and
the worker joins it, on free ports (parallel xdist workers' swarms never meet), through the SDK.
The registry is Debian's ``docker-registry`` serving a temporary folder on the manager's
address, which both nodes reach (plain HTTP: the daemons take that range as insecure). At the end the
worker leaves, the manager leaves, both daemons stop and the registry stops. ``lose_node``
kills a node's daemon and everything it runs at once (a machine lost, for the fault tests).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from tests.integration.docker_rig import DockerEngine, start_engine, stop_engine
from tests.integration.netns import RANGE, namespace

REGISTRY_CONFIG = """version: 0.1
storage:
  filesystem:
    rootdirectory: {root}
http:
  addr: {host}:{port}
"""
AUTH = """auth:
  htpasswd:
    realm: shipyard-test
    path: {path}
"""


@dataclass
class Swarm:
    manager: DockerEngine
    worker: DockerEngine
    registry: str  # <address>:<port>
    address: str  # the manager's node address, which the worker reaches (a registry listens there)

    def worker_node_id(self) -> str:
        return str(self.worker.client.info()["Swarm"]["NodeID"])


@contextlib.contextmanager
def registry(port: int, login: tuple[str, str] | None = None, host: str = "127.0.0.1") -> Iterator[str]:
    """Debian's docker-registry on ``<host>:<port>``, storing in a temporary folder; with
    ``login`` (user, password) it asks for it (an htpasswd file, bcrypt)."""
    root = Path(tempfile.mkdtemp(prefix="sy-registry-"))
    config = REGISTRY_CONFIG.format(root=root / "data", host=host, port=port)
    if login is not None:
        (root / "htpasswd").write_text(f"{login[0]}:{bcrypt(login[1])}\n")
        config += AUTH.format(path=root / "htpasswd")
    (root / "config.yml").write_text(config)
    log = open(root / "registry.log", "wb")  # noqa: SIM115 (written until it stops)
    process = subprocess.Popen(
        ["docker-registry", "serve", str(root / "config.yml")], stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    address = f"{host}:{port}"
    try:
        deadline = time.monotonic() + 30
        while not _answers(f"http://{address}/v2/", login):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((root / "registry.log").read_text()[-2000:])
            time.sleep(0.1)
        yield address
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
        shutil.rmtree(root, ignore_errors=True)


def bcrypt(password: str) -> str:
    """The registry's htpasswd hash (bcrypt) from the standard library's ``crypt``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # removed in Python 3.13
        import crypt

    return str(crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH)))


def _answers(url: str, login: tuple[str, str] | None = None) -> bool:
    try:
        return httpx.get(url, timeout=1, trust_env=False, auth=login).status_code == 200
    except httpx.HTTPError:
        return False


def data_path_port(free_port: Callable[[], int]) -> int:
    """A free port Swarm takes for its data path (VXLAN): only 1024-49151 is valid."""
    while (port := free_port()) > 49151:
        continue
    return port


@contextlib.contextmanager
def swarm(free_port: Callable[[], int]) -> Iterator[Swarm]:
    """A manager node here and a worker node in a network namespace of its own, and a registry
    both pull from (on the manager's address, which the worker reaches)."""
    with namespace() as ns, registry(free_port(), host=ns.host) as address:
        insecure = [f"--insecure-registry={RANGE}"]  # plain HTTP to the test registry
        manager = start_engine(flags=insecure)
        worker: DockerEngine | None = None
        try:
            worker = start_engine(netns=ns.path, flags=insecure)
            own, joined = free_port(), free_port()
            manager.client.swarm.init(
                advertise_addr=f"{ns.host}:{own}",
                listen_addr=f"{ns.host}:{own}",
                data_path_port=data_path_port(free_port),
            )
            token = manager.client.swarm.attrs["JoinTokens"]["Worker"]
            worker.client.swarm.join(
                remote_addrs=[f"{ns.host}:{own}"],
                join_token=token,
                listen_addr=f"{ns.inside}:{joined}",
                advertise_addr=f"{ns.inside}:{joined}",
            )
            yield Swarm(manager, worker, address, ns.host)
        finally:
            for engine in (worker, manager):
                if engine is not None:
                    with contextlib.suppress(Exception):
                        for service in engine.client.services.list():
                            service.remove()  # type: ignore[no-untyped-call]
                    with contextlib.suppress(Exception):
                        engine.client.swarm.leave(force=True)
                    stop_engine(engine)


def lose_node(engine: DockerEngine) -> None:
    """The machine of ``engine`` is lost: its containers' processes, its dockerd, containerd and
    shims are killed at once (SIGKILL), with no word to the swarm."""
    pids = [int(c.attrs["State"]["Pid"]) for c in engine.client.containers.list()]
    root = str(engine.root)
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if any(root in part for part in proc.info["cmdline"] or []):
            pids.append(proc.pid)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    engine.process.wait(10)
