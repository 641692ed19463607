"""The docker runtime (``runtime: docker``): app instances as containers on one Docker Engine.

Called by the engine through ``interface.Runtime``, like the process runtime, over the Docker
Engine API (the ``docker`` SDK, never the CLI's output). An instance is a container of its
release's image, started by the image id the release recorded (``images.recorded_image``: a
promotion runs exactly the image that was built), with host networking and its port in
``PORT`` (its endpoint is ``127.0.0.1:<port>``, kept across restarts while the port is free),
the CPU and memory limits of the release's ``processes.web``, and labels naming this Shipyard
home, the app, environment, colour, slot and instance id, so that ``orphans`` finds this
home's containers after a crash of the control plane. Docker's restart policy is left off: a
crashed container is restarted by the reconciler through ``start``, as a process is, so the
restart counter, ``strategy.max_restarts`` and the deployment's "keeps crashing" error work
the same on every runtime. CPU and memory come from the stats API, output from the logs API
(``container_logs``); a one-off command (a migration) is a one-off container of the image.
The image and container calls that a Swarm runtime would share take a client and plain values.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
import psutil
import yaml
from docker import DockerClient
from docker.models.containers import Container

from shipyard.core.logline import Source
from shipyard.drivers.ports import free_port, port_is_free
from shipyard.drivers.runtime.commands import CommandResult
from shipyard.drivers.runtime.container_logs import (
    container_of,
    output_streams,
    read_container_output,
    sweep,
    tail,
)
from shipyard.drivers.runtime.docker_engine import DockerEngine
from shipyard.drivers.runtime.images import ReleaseImage, recorded_image
from shipyard.drivers.runtime.interface import InstanceSpec, OneOff, Started
from shipyard.drivers.runtime.logfiles import OutputStream
from shipyard.drivers.runtime.registry import pull
from shipyard.drivers.runtime.usage import CpuRate, Usage
from shipyard.errors import InstanceError

LABEL = "io.shipyard"  # labels: io.shipyard.home, .app, .env, .process, .colour, .slot, .instance, .role


@dataclass(frozen=True)
class ContainerRef:
    """What the docker runtime keeps of an instance (its ``runtime_ref``, as JSON)."""

    container: str  # the container's id

    def encode(self) -> str:
        return json.dumps({"container": self.container})

    @classmethod
    def decode(cls, ref: str | None) -> ContainerRef | None:
        data = json_ref(ref)
        return cls(str(data["container"])) if data and data.get("container") else None


def json_ref(ref: str | None) -> dict[str, Any] | None:
    """A runtime ref's JSON object; None for none or another runtime's ref."""
    try:
        data = json.loads(ref) if ref else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class Limits:
    nano_cpus: int | None
    memory: str | None


def limits_of(release_manifest: str) -> tuple[str, Limits]:
    """The app's name and ``processes.web``'s limits in the manifest the release was built with."""
    data = yaml.safe_load(release_manifest) or {}
    web = (data.get("processes") or {}).get("web") or {}
    cpus = web.get("cpus")
    return str(data.get("app", "app")), Limits(int(float(cpus) * 1e9) if cpus else None, web.get("memory"))


def existing_image(client: DockerClient, image: ReleaseImage, release_id: str) -> str:
    """``image``'s id, checked to be on the engine (the exact image the release recorded);
    pulled by its recorded digest when the engine lacks it and it was pushed to a registry."""
    try:
        found = client.images.get(image.id)
    except docker.errors.ImageNotFound:
        if image.digest and pull(client, image.digest) == image.id:
            return image.id
        raise InstanceError(
            f"release {release_id}'s image {image.tag} ({image.id[:19]}) is not on the Docker Engine",
            "deploy again to rebuild it (`shipyard deploy`); images of releases must not be removed",
        ) from None
    if found.id != image.id:
        raise InstanceError(f"release {release_id}'s image changed under {image.tag}", "deploy again")
    return image.id


class DockerRuntime:
    """``interface.Runtime`` on one Docker Engine's containers (``runtime: docker``)."""

    def __init__(self, home: Path, engine: DockerEngine) -> None:
        self.home = str(home)
        self.home_key = hashlib.sha256(self.home.encode()).hexdigest()[:10]
        self.engine = engine
        self._cpu = CpuRate()  # per container: its last CPU reading
        self._total_memory = psutil.virtual_memory().total

    def _client(self) -> DockerClient:
        return self.engine.client(InstanceError)

    def _container(self, ref: str | None) -> Container | None:
        own = ContainerRef.decode(ref)
        if own is None:
            return None
        try:
            return self._client().containers.get(own.container)
        except (docker.errors.DockerException, InstanceError):
            return None

    def labels(self, app: str, env: str, name: str, role: str, **more: str) -> dict[str, str]:
        return {
            f"{LABEL}.home": self.home,
            f"{LABEL}.app": app,
            f"{LABEL}.env": env,
            f"{LABEL}.name": name,
            f"{LABEL}.role": role,
            **{f"{LABEL}.{key}": value for key, value in more.items()},
        }

    def start(self, spec: InstanceSpec) -> Started:
        client = self._client()
        image = existing_image(client, recorded_image(spec.release), spec.release.id)
        endpoint, variables = "", {**spec.variables, "SHIPYARD_INSTANCE_ID": str(spec.instance_id)}
        if spec.listens:  # a worker gets no port
            known = spec.endpoint.rpartition(":")[2] if spec.endpoint else ""
            port = int(known) if known.isdigit() and port_is_free(int(known)) else free_port()
            endpoint, variables["PORT"] = f"127.0.0.1:{port}", str(port)
        app, limits = limits_of(spec.release.manifest)
        labels = self.labels(
            app,
            spec.env,
            spec.name,
            "instance",
            process=spec.process,
            colour=spec.colour,
            slot=str(spec.slot),
            instance=str(spec.instance_id),
        )
        name = f"shipyard-{self.home_key}-{spec.env}-{spec.name}-{spec.instance_id}-{time.time_ns() % 10**9}"
        try:
            container = run_container(
                client,
                image,
                spec.command,
                variables,
                labels,
                name,
                nano_cpus=limits.nano_cpus,
                mem_limit=limits.memory,
            )
        except docker.errors.DockerException as exc:
            _remove_named(client, name)  # created but not started: nothing of it is kept
            raise InstanceError(
                f"could not start a container of {spec.release.id}'s image: {_explain(exc)}",
                "check processes.web.command and the image (`docker run` it by hand), then deploy again",
            ) from None
        cid = str(container.id)
        return Started(endpoint, ContainerRef(cid).encode(), f"container {cid[:12]}")

    def stop(self, ref: str | None, timeout: float) -> bool:
        """SIGTERM, SIGKILL after ``timeout``; the container stays until its output is read."""
        container = self._container(ref)
        if container is None:
            return False
        try:
            container.stop(timeout=max(1, math.ceil(timeout)))
            container.reload()
        except docker.errors.DockerException:
            return False
        return (
            int(container.attrs["State"].get("ExitCode", 0)) == 137
            and not container.attrs["State"]["OOMKilled"]
        )

    def alive(self, ref: str | None) -> bool:
        container = self._container(ref)
        return container is not None and container.status == "running"

    def label(self, ref: str | None) -> str:
        own = ContainerRef.decode(ref)
        return f"container {own.container[:12]}" if own else "not started"

    def pid(self, ref: str | None) -> int | None:
        container = self._container(ref)
        found = int(container.attrs["State"].get("Pid", 0)) if container is not None else 0
        return found or None

    def usage(self, ref: str) -> Usage | None:
        container = self._container(ref)
        if container is None or container.status != "running":
            return None
        try:
            got = container.stats(stream=False, one_shot=True)
        except docker.errors.DockerException:
            return None
        stats: dict[str, Any] = got if isinstance(got, dict) else {}
        cpu_ns = int(stats.get("cpu_stats", {}).get("cpu_usage", {}).get("total_usage", 0))
        memory = stats.get("memory_stats", {})
        rss = int(memory.get("usage", 0)) - int(memory.get("stats", {}).get("inactive_file", 0))
        cpu = self._cpu.rate(str(container.id), cpu_ns / 1e9, time.monotonic())
        return Usage(cpu, max(rss, 0) / self._total_memory, max(rss, 0))

    def forget_usage_except(self, live: set[str]) -> None:
        keep = {own.container for ref in live if (own := ContainerRef.decode(ref))}
        self._cpu.keep_only(keep)

    def output_tail(self, ref: str | None, lines: int = 5) -> str:
        container = self._container(ref)
        return tail(container, lines) if container is not None else ""

    def outputs(self) -> list[OutputStream]:
        try:
            client = self._client()
        except InstanceError:
            return []
        return output_streams(client, {f"{LABEL}.home": self.home}, LABEL)

    def read_output(self, stream: OutputStream, known: Source | None) -> tuple[list[bytes], Source] | None:
        container = self._container(ContainerRef(container_of(stream.key)).encode())
        if container is None:
            return None
        got = read_container_output(container, stream, known, LABEL)
        if got is None:
            sweep(container)  # exited long enough ago and read to its end: removed
        return got

    def orphans(self, known: set[int]) -> list[str]:
        """Running containers of this home whose instance id is not in ``known``."""
        try:
            running = self._client().containers.list(
                filters={
                    "label": [f"{LABEL}.home={self.home}", f"{LABEL}.role=instance"],
                    "status": "running",
                }
            )
        except (docker.errors.DockerException, InstanceError):
            return []
        return [
            ContainerRef(str(c.id)).encode()
            for c in running
            if int(c.labels.get(f"{LABEL}.instance", "0")) not in known
        ]

    def run_once(self, job: OneOff) -> CommandResult:
        """``job.command`` in a one-off container of the release's image, waited for."""
        client = self._client()
        image = existing_image(client, recorded_image(job.release), job.release.id)
        app, _ = limits_of(job.release.manifest)
        started = time.monotonic()
        try:
            labels = self.labels(app, job.env, job.name, "oneoff")
            container = run_container(client, image, job.command, job.variables, labels)
        except docker.errors.DockerException as exc:
            raise InstanceError(
                f"could not run `{job.command}` in a container: {_explain(exc)}", job.hint
            ) from None
        code = _wait(container, job.timeout)
        output = tail(container, 20, both_streams_in_order=True)
        return CommandResult(code, time.monotonic() - started, output)


def run_container(
    client: DockerClient,
    image: str,
    command: str,
    variables: dict[str, str],
    labels: dict[str, str],
    name: str | None = None,
    **limits: Any,
) -> Container:
    """Start ``command`` (through /bin/sh) in a detached container of ``image`` on the host's network.

    docker-init (tini) is its pid 1, so a stop's SIGTERM reaches the app (pid 1 ignores it).
    The environment's data folder (``SHIPYARD_DATA_DIR``) is bind-mounted at the same path."""
    return client.containers.run(
        image,
        ["/bin/sh", "-c", command],
        name=name,
        detach=True,
        init=True,
        network_mode="host",
        environment=variables,
        labels=labels,
        volumes=data_volume(client, image, variables),
        **limits,
    )


def data_volume(client: DockerClient, image: str, variables: dict[str, str]) -> dict[str, dict[str, str]]:
    """The data folder as a read-write bind mount, handed to the image's numeric user (the
    generated Dockerfile's uid 10001) so that the app can write its database there."""
    folder = variables.get("SHIPYARD_DATA_DIR")
    if not folder or not os.path.isdir(folder):
        return {}
    user = str(client.images.get(image).attrs.get("Config", {}).get("User") or "")
    uid, _, gid = user.partition(":")
    if uid.isdigit() and os.geteuid() == 0:
        for root, dirs, files in os.walk(folder):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(name, int(uid), int(gid) if gid.isdigit() else int(uid), follow_symlinks=False)
    return {folder: {"bind": folder, "mode": "rw"}}


def _wait(container: Container, timeout: float) -> int | None:
    """The container's exit code; None when it ran past ``timeout`` (then it is killed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        if container.status in ("exited", "dead"):
            return int(container.attrs["State"]["ExitCode"])
        time.sleep(0.1)
    container.kill()
    return None


def _remove_named(client: DockerClient, name: str) -> None:
    try:
        client.containers.get(name).remove(force=True)
    except docker.errors.DockerException:
        return


def _explain(exc: docker.errors.DockerException) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)
