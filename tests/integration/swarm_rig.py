"""The Swarm test rig: a local Docker registry and two private dockerd joined as a swarm on loopback.

Used by the swarm tests only (``test_swarm_runtime.py``). The registry is Debian's
``docker-registry`` serving a temporary folder on a free port (127.0.0.0/8 is an insecure
registry by Docker's default, so no TLS is needed). Both daemons are ``docker_rig``'s (own
roots and sockets, host networking only, the offline base image imported); the first runs
``swarm init`` and the second joins it as a worker, each listening on a free loopback port
(so that parallel xdist workers' swarms never meet), through the SDK. At the end the
worker leaves, the manager leaves, both daemons stop and the registry stops.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from tests.integration.docker_rig import DockerEngine, start_engine, stop_engine

REGISTRY_CONFIG = """version: 0.1
storage:
  filesystem:
    rootdirectory: {root}
http:
  addr: 127.0.0.1:{port}
"""


@dataclass
class Swarm:
    manager: DockerEngine
    worker: DockerEngine
    registry: str  # 127.0.0.1:<port>

    def worker_node_id(self) -> str:
        return str(self.worker.client.info()["Swarm"]["NodeID"])


@contextlib.contextmanager
def registry(port: int) -> Iterator[str]:
    """Debian's docker-registry on ``127.0.0.1:<port>``, storing in a temporary folder."""
    root = Path(tempfile.mkdtemp(prefix="sy-registry-"))
    (root / "config.yml").write_text(REGISTRY_CONFIG.format(root=root / "data", port=port))
    log = open(root / "registry.log", "wb")  # noqa: SIM115 (written until it stops)
    process = subprocess.Popen(
        ["docker-registry", "serve", str(root / "config.yml")], stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not _answers(f"http://{address}/v2/"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((root / "registry.log").read_text()[-2000:])
            time.sleep(0.1)
        yield address
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
        shutil.rmtree(root, ignore_errors=True)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def swarm(free_port: Callable[[], int]) -> Iterator[Swarm]:
    """A manager and a worker node on loopback, and a registry both pull from."""
    with registry(free_port()) as address:
        manager = start_engine()
        worker: DockerEngine | None = None
        try:
            worker = start_engine()
            own, joined = free_port(), free_port()
            manager.client.swarm.init(
                advertise_addr=f"127.0.0.1:{own}", listen_addr=f"127.0.0.1:{own}", data_path_port=free_port()
            )
            token = manager.client.swarm.attrs["JoinTokens"]["Worker"]
            worker.client.swarm.join(
                remote_addrs=[f"127.0.0.1:{own}"],
                join_token=token,
                listen_addr=f"127.0.0.1:{joined}",
                advertise_addr=f"127.0.0.1:{joined}",
            )
            yield Swarm(manager, worker, address)
        finally:
            for engine in (worker, manager):
                if engine is not None:
                    with contextlib.suppress(Exception):
                        for service in engine.client.services.list():
                            service.remove()  # type: ignore[no-untyped-call]
                    with contextlib.suppress(Exception):
                        engine.client.swarm.leave(force=True)
                    stop_engine(engine)
