"""The node agent of ``runtime: swarm``: CPU and memory of tasks on nodes other than the manager's.

Called by ``swarm_runtime.SwarmRuntime`` (its ``start``, ``usage`` and the removal of the home's
last instance service). Docker's stats API answers for its own node only, so, as Portainer's
agent and cAdvisor do, a Swarm global service of this home (labels ``io.shipyard.home`` and
``io.shipyard.role=agent``: one task per node) runs ``node_agent_script.py`` with
``python3 -c`` on ``build.image`` (no image of its own to build or push), on the host's network,
with the node's cgroup tree bind-mounted read-only (not the Docker socket). It is created at the
first ``start`` of an instance and removed with the home's last instance service. Its port is
chosen free on the manager at its creation and recorded in its ``io.shipyard.port`` label; its
token is random, kept in the home (``node-agent.token``, 0600) and reaches the agent as a
Docker secret (never in the service's environment); the secret's name carries the token's
hash, so a service whose token this home does not hold is made again. A reading is asked at
``<node address>:<port>`` with a short timeout; an agent that does not answer gives None. The
CPU seconds become a share with ``usage.CpuRate``, as the docker runtime's do.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import docker.errors
import httpx
import yaml
from docker import DockerClient
from docker.types import Resources, RestartPolicy, SecretReference, ServiceMode

from shipyard.core import swarm
from shipyard.drivers.files import write_atomic
from shipyard.drivers.ports import free_port
from shipyard.drivers.runtime.usage import CpuRate, Usage
from shipyard.manifest.models import Build

Service = Any  # docker.models.services.Service
SecretMaker = Callable[[DockerClient, str, str, str], SecretReference]  # client, env, name, value
SCRIPT = (resources.files("shipyard.drivers.runtime") / "node_agent_script.py").read_text()
LABEL = "io.shipyard"
ROLE = "agent"
TOKEN_NAME = "SHIPYARD_AGENT_TOKEN"  # the secret's file name in the task (the script's TOKEN_FILE)
TIMEOUT = 2.0  # seconds a reading may take
MEMORY_LIMIT = 64 * 1024**2  # the agent's own
FIELDS = ("cpu_seconds", "rss_bytes", "memory_limit_bytes", "memory_total_bytes")


@dataclass(frozen=True)
class Reading:
    """One answer of an agent about one container."""

    cpu_seconds: float
    rss_bytes: int
    memory_limit_bytes: int | None
    memory_total_bytes: int


def parse_reading(body: str) -> Reading | None:
    """An agent's JSON answer; None when it is not one (the caller then has no figures)."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    cpu, rss, limit, total = (data.get(k) for k in FIELDS)
    if isinstance(cpu, bool) or not isinstance(cpu, int | float):
        return None
    if not isinstance(rss, int) or not isinstance(total, int) or rss < 0 or total <= 0:
        return None
    if limit is not None and not isinstance(limit, int):
        return None
    return Reading(float(cpu), rss, limit, total)


def agent_image(release_manifest: str) -> str:
    """``build.image`` of the manifest a release was built with (a Python image)."""
    data = yaml.safe_load(release_manifest) or {}
    image = (data.get("build") or {}).get("image")
    return str(image or Build.model_fields["image"].default)


class NodeAgents:
    """This home's node agent service, its token, and readings through it."""

    def __init__(
        self, home: str, home_key: str, secret: SecretMaker, remove: Callable[[Service], None]
    ) -> None:
        self.home, self.home_key = home, home_key
        self.token_file = Path(home) / "node-agent.token"
        self._secret, self._remove = secret, remove
        self._cpu = CpuRate()  # per container: its last CPU reading
        self._token_value: str | None = None  # read (or made) once
        self._port: str | None = None  # the agent's, once looked up; forgotten when it fails
        self._lock = threading.Lock()  # instances started side by side make one agent, one token

    def service(self, client: DockerClient) -> Service | None:
        services: Any = client.services
        found = services.list(filters={"label": [f"{LABEL}.home={self.home}", f"{LABEL}.role={ROLE}"]})
        return found[0] if found else None

    def ensure(self, client: DockerClient, release_manifest: str) -> None:
        """Create the agent service unless it runs with this home's token. A Docker error is
        let go: usage of other nodes' tasks stays unknown, and the next ``start`` tries again."""
        with self._lock, contextlib.suppress(docker.errors.DockerException):
            token = self._token()
            name = swarm.secret_name(self.home_key, "node", TOKEN_NAME, token)
            found = self.service(client)
            if found is not None and name in _secret_names(found):
                return
            if found is not None:
                self._remove(found)  # an agent with a token this home does not hold
            self._create(
                client, agent_image(release_manifest), self._secret(client, "node", TOKEN_NAME, token)
            )

    def _create(self, client: DockerClient, image: str, secret: SecretReference) -> None:
        port = free_port()
        self._port = None
        labels = {f"{LABEL}.home": self.home, f"{LABEL}.role": ROLE}
        services: Any = client.services
        services.create(
            image,
            command=["python3", "-c", SCRIPT],
            name=f"sy-{self.home_key}-node-agent",
            env=[f"PORT={port}"],
            labels={**labels, f"{LABEL}.port": str(port)},
            container_labels=labels,
            networks=["host"],
            mode=ServiceMode("global"),
            mounts=["/sys/fs/cgroup:/host/sys/fs/cgroup:ro"],
            secrets=[secret],
            init=True,
            restart_policy=RestartPolicy(condition="any", delay=1_000_000_000),
            resources=Resources(mem_limit=MEMORY_LIMIT),
        )

    def _token(self) -> str:
        if self._token_value is None:
            if self.token_file.exists():
                self._token_value = self.token_file.read_text().strip()
            else:
                self._token_value = secrets.token_urlsafe(32)
                write_atomic(self.token_file, self._token_value + "\n", mode=0o600)
        return self._token_value

    def _agent_port(self, client: DockerClient) -> str | None:
        """The agent's port from its service's label, looked up once (not on every reading)."""
        if self._port is None:
            found = self.service(client)
            self._port = found.attrs["Spec"].get("Labels", {}).get(f"{LABEL}.port") if found else None
        return self._port

    def usage(self, client: DockerClient, address: str, container: str) -> Usage | None:
        """The container's usage from the agent on the node at ``address``; None when it does not answer."""
        try:
            port = self._agent_port(client)
        except docker.errors.DockerException:
            return None
        if not port or not self.token_file.exists():
            return None
        headers = {"Authorization": f"Bearer {self._token()}"}
        try:
            got = httpx.get(
                f"http://{address}:{port}/usage/{container}",
                headers=headers,
                timeout=TIMEOUT,
                trust_env=False,
            )
        except httpx.HTTPError:
            self._port = None  # the agent may have been made again on another port
            return None
        reading = parse_reading(got.text) if got.status_code == 200 else None
        if reading is None:
            return None
        cpu = self._cpu.rate(container, reading.cpu_seconds, time.monotonic())
        return Usage(cpu, reading.rss_bytes / reading.memory_total_bytes, reading.rss_bytes)

    def forget_except(self, containers: set[str]) -> None:
        self._cpu.keep_only(containers)


def _secret_names(service: Service) -> list[str]:
    spec = service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
    return [str(s["SecretName"]) for s in spec.get("Secrets", [])]
