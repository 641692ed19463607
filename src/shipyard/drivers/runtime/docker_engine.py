"""The connection to a Docker Engine, shared by image builds and the container runtimes.

``DockerEngine`` connects on first use (a control plane whose Docker is down still starts and
answers; only what needs Docker fails), through the Docker Engine API with the ``docker``
SDK: ``$DOCKER_HOST`` or the default socket. When the engine does not answer, the caller gets
``unreachable``'s message and hint, in the exception type of its own step (a build's
``BuildError``, an instance's ``InstanceError``). Used by ``images.py`` and ``docker.py``.
"""

from __future__ import annotations

import os
import threading

import docker
import docker.errors
from docker import DockerClient

from shipyard.errors import ShipyardError

DEFAULT_HOST = "unix:///var/run/docker.sock"


def unreachable(host: str, exc: Exception, kind: type[ShipyardError]) -> ShipyardError:
    """The error for a Docker Engine that did not answer (never the SDK's exception)."""
    return kind(
        f"runtime: docker: the Docker Engine at {host} is not reachable ({type(exc).__name__})",
        "start Docker (`systemctl start docker`) or point DOCKER_HOST at its socket, "
        "or set `runtime: process` in shipyard.yaml; the serving version is untouched",
    )


class DockerEngine:
    """A lazily made SDK client of one Docker Engine (``host`` or ``$DOCKER_HOST``)."""

    def __init__(self, host: str | None = None, timeout: float = 120.0) -> None:
        self.host = host or os.environ.get("DOCKER_HOST") or DEFAULT_HOST
        self.timeout = timeout
        self._client: DockerClient | None = None
        self._lock = threading.Lock()

    def client(self, kind: type[ShipyardError]) -> DockerClient:
        """The client, connected now if it was not; raises ``kind`` when the engine does not answer."""
        with self._lock:
            if self._client is None:
                try:
                    made = docker.DockerClient(base_url=self.host, timeout=int(self.timeout))
                    made.ping()
                except (docker.errors.DockerException, OSError) as exc:
                    raise unreachable(self.host, exc, kind) from None
                self._client = made
            return self._client
