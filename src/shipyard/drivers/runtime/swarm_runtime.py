"""The Swarm runtime (``runtime: swarm``): app instances as services of a Docker Swarm.

Called by the engine through ``interface.Runtime`` over the Docker Engine API of a manager
node (the ``docker`` SDK). Each instance (environment, colour, slot) is one Swarm service of
one replica, so Shipyard keeps blue-green, canary and its own restart counting exactly as on
the other runtimes, while Swarm places the task on a node (``processes.<p>.placement``
constraints, CPU and memory limits) and moves it when its node is drained or lost. The task
runs the release's image by the digest recorded at the push to ``registry:`` (every node
pulls it), on the host's network, listening on ``PORT`` (chosen at the service's creation,
kept when the task moves); its endpoint is the node's address (``Status.Addr`` of the node
the Swarm API says runs it) and that port. The port is chosen free on the manager only: the
Engine API cannot ask another node whether a port is free there, so a port taken on the
task's node is found by the health check (the task cannot bind; the deploy fails with a hint,
and the reconciler restarts it). Secrets are Docker secrets (``core/swarm.py``), removed
with the last service that uses them. The environment's data folder is bind-mounted at its
path (every node that may run the task needs it there).

The instance's ref names the service and the task it was answered with: when Swarm replaces
the task (a crash: the restart policy is ``any``; a drained or lost node), ``alive`` turns
false, the reconciler restarts the instance through ``start``, which adopts the service's
new running task and answers its endpoint, and HAProxy's server follows. Swarm's own health
check is off (Shipyard probes). A web task that Swarm stops (a drained node, a removed
service) serves on ``PRE_STOP_S`` before its app gets the SIGTERM (``swarm.task_shell``), so
that the reconciler adopts the replacement task and HAProxy's server moves first. Every
task's output, on any node, comes from the Swarm API's task logs (``task_logs``). One-off
commands are the docker runtime's (a one-off container on the manager). CPU and memory of a
task on the manager's node come from Docker's stats API (the docker runtime's ``usage``), of a
task on another node from this home's node agent there (``node_agent``: a global service
started with the first instance, removed with the last).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import docker.errors
import yaml
from docker import DockerClient
from docker.types import Healthcheck, Resources, RestartPolicy, SecretReference

from shipyard.core import swarm
from shipyard.core.logline import Source
from shipyard.drivers.ports import free_port
from shipyard.drivers.runtime.commands import CommandResult
from shipyard.drivers.runtime.container_logs import output_streams
from shipyard.drivers.runtime.docker_engine import DockerEngine
from shipyard.drivers.runtime.docker_runtime import LABEL, ContainerRef, DockerRuntime, data_volume, json_ref
from shipyard.drivers.runtime.images import recorded_image
from shipyard.drivers.runtime.interface import InstanceSpec, OneOff, Started
from shipyard.drivers.runtime.logfiles import OutputStream
from shipyard.drivers.runtime.node_agent import NodeAgents
from shipyard.drivers.runtime.registry import Credentials
from shipyard.drivers.runtime.task_logs import PREFIX, read_task_output, task_streams
from shipyard.drivers.runtime.usage import Usage
from shipyard.errors import InstanceError

Service = Any  # docker.models.services.Service: the SDK leaves its methods untyped
START_TIMEOUT = 90.0  # a task's image pull and start on its node
FAILED = ("failed", "rejected")
PRE_STOP_S = 8.0  # a stopped web task serves on while its replacement starts and HAProxy follows
STOP_GRACE_S = 10.0  # then the app's own shutdown, before Swarm's SIGKILL
UNPLACED_GRACE = 10.0  # seconds a task may wait for a node (one being drained, joining) before it is an error
PLACEMENT_HINT = "check the image and processes placement (a constraint no node meets), then deploy again"
PULL_HINT = "check that the nodes can pull from the registry (`docker node ls`, `docker service ps`)"


@dataclass(frozen=True)
class TaskRef:
    """What the swarm runtime keeps of an instance: its service and the task it answered with."""

    service: str
    task: str
    container: str  # the task's container id ("" until known)

    def encode(self) -> str:
        return json.dumps({"service": self.service, "task": self.task, "container": self.container})

    @classmethod
    def decode(cls, ref: str | None) -> TaskRef | None:
        data = json_ref(ref)
        if not data or not data.get("service"):
            return None
        return cls(str(data["service"]), str(data.get("task", "")), str(data.get("container", "")))


def process_settings(release_manifest: str, process: str) -> tuple[str, dict[str, Any]]:
    """The app's name and ``processes.<process>`` of the manifest the release was built with."""
    data = yaml.safe_load(release_manifest) or {}
    return str(data.get("app", "app")), dict((data.get("processes") or {}).get(process) or {})


class SwarmRuntime:
    """``interface.Runtime`` on a Docker Swarm's services (``runtime: swarm``)."""

    def __init__(self, home: Any, engine: DockerEngine) -> None:
        self.local = DockerRuntime(home, engine)  # one-offs, and tasks on the manager's node
        self.home = self.local.home
        self.engine = engine
        self.login: Callable[[], Credentials | None] = lambda: None  # the registry's (wire_services)
        self.agents = NodeAgents(self.home, self.local.home_key, self._secret, self._remove)

    def _client(self) -> DockerClient:
        return self.engine.client(InstanceError)

    def _service(self, ref: str | None) -> Service:
        own = TaskRef.decode(ref)
        if own is None:
            return None
        try:
            services: Any = self._client().services
            return services.get(own.service)
        except (docker.errors.DockerException, InstanceError):
            return None

    def start(self, spec: InstanceSpec) -> Started:
        client = self._client()
        kept = self._own_service(client, spec.instance_id)
        if kept is not None and _image(kept) != recorded_image(spec.release).digest:
            self._remove(kept)  # another release's
            kept = None
        self.agents.ensure(client, spec.release.manifest)  # after that removal: it may have been the last
        if kept is not None:
            # Swarm replaces the task of a crash or a move itself: adopt its running task (the
            # service, and the output of its earlier tasks, are kept)
            return self._started(client, kept, self._wait_running(kept, spec, remove=False))
        service = self._create(client, spec)
        return self._started(client, service, self._wait_running(service, spec, remove=True))

    def _own_service(self, client: DockerClient, instance_id: int) -> Service | None:
        found = client.services.list(filters={"label": [*self._instances, f"{LABEL}.instance={instance_id}"]})
        return found[0] if found else None

    @property
    def _instances(self) -> list[str]:
        """The label filter of this home's instance services (not its node agent)."""
        return [f"{LABEL}.home={self.home}", f"{LABEL}.role=instance"]

    def _create(self, client: DockerClient, spec: InstanceSpec) -> Service:
        image = recorded_image(spec.release)
        if not image.digest:
            raise InstanceError(
                f"release {spec.release.id}'s image was not pushed to a registry",
                "set `registry:` in shipyard.yaml (runtime: swarm pulls images by digest) and deploy again",
            )
        app, settings = process_settings(spec.release.manifest, spec.process)
        plain, hidden = swarm.split_secrets(
            {**spec.variables, "SHIPYARD_INSTANCE_ID": str(spec.instance_id)}, spec.secrets
        )
        if spec.listens:
            known = spec.endpoint.rpartition(":")[2] if spec.endpoint else ""
            plain["PORT"] = known if known.isdigit() else str(free_port())
        labels = self.local.labels(
            app, spec.env, spec.name, "instance", process=spec.process, colour=spec.colour,
            slot=str(spec.slot), instance=str(spec.instance_id),
        )  # fmt: skip
        name = swarm.service_name(self.local.home_key, spec.env, spec.name, spec.instance_id)
        cpus = settings.get("cpus")
        try:
            self._log_in(client, image.digest)
            secrets = [self._secret(client, spec.env, key, value) for key, value in hidden.items()]
            services: Any = client.services
            return services.create(
                image.digest,
                command=swarm.task_shell(spec.command, list(hidden), PRE_STOP_S if spec.listens else 0),
                stop_grace_period=int((PRE_STOP_S + STOP_GRACE_S) * 1e9),
                name=name,
                env=[f"{k}={v}" for k, v in plain.items()],
                labels=labels,
                container_labels=labels,
                networks=["host"],
                init=True,
                healthcheck=Healthcheck(test=["NONE"]),
                restart_policy=RestartPolicy(condition="any", delay=500_000_000),
                constraints=list(settings.get("placement") or []),
                resources=Resources(
                    cpu_limit=int(float(cpus) * 1e9) if cpus else None,
                    mem_limit=swarm.memory_bytes(settings.get("memory")),
                ),
                secrets=secrets,
                mounts=self._data_mount(client, image.digest, plain),
            )
        except docker.errors.DockerException as exc:
            raise InstanceError(
                f"could not create the Swarm service {name}: {getattr(exc, 'explanation', None) or exc}",
                "check the swarm (`docker node ls` on a manager) and processes placement, then deploy again",
            ) from None

    def _log_in(self, client: DockerClient, digest: str) -> None:
        """With ``registry:`` credentials, the service's creation carries them, so that every
        node pulls the image from a registry that asks for a login."""
        login = self.login()
        if login is not None:
            client.login(login.username, login.password, registry=digest.split("/", 1)[0])

    def _secret(self, client: DockerClient, env: str, key: str, value: str) -> SecretReference:
        name = swarm.secret_name(self.local.home_key, env, key, value)
        found = client.secrets.list(filters={"name": name})
        secret = next((s for s in found if s.name == name), None) or client.secrets.create(
            name=name, data=value.encode(), labels={f"{LABEL}.home": self.home}
        )
        return SecretReference(str(secret.id), name, filename=key, mode=0o444)

    def _data_mount(self, client: DockerClient, image: str, plain: dict[str, str]) -> list[str]:
        """The environment's data folder, bind-mounted at the same path (it must exist at that
        path on every node the task may run on: shared storage, or a placement constraint)."""
        try:
            volumes = data_volume(client, image, plain)
        except docker.errors.DockerException:
            return []  # the manager does not hold the image (built elsewhere): no chown, no mount
        return [f"{source}:{bind['bind']}:rw" for source, bind in volumes.items()]

    def _wait_running(self, service: Service, spec: InstanceSpec, remove: bool) -> dict[str, Any]:
        """The service's running task; failing three times (or too long) is an error, and a
        service created for this start is then removed (its output is in the message)."""
        before = {t["ID"] for t in _tasks(service) if t["Status"]["State"] in FAILED}
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            task = _running_task(service)
            if task is not None:
                return task
            failed = [t for t in _tasks(service) if t["Status"]["State"] in FAILED and t["ID"] not in before]
            if len(failed) >= 3:
                why = f"{spec.name}'s Swarm task did not start: {failed[0]['Status'].get('Err', 'failed')}"
                raise self._not_started(service, remove, why, PLACEMENT_HINT)
            unplaced = _unplaced(service)
            if unplaced and time.monotonic() > deadline - START_TIMEOUT + UNPLACED_GRACE:
                why = f"no node can run {spec.name}'s Swarm task: {unplaced}"
                raise self._not_started(service, remove, why, PLACEMENT_HINT)
            time.sleep(0.2)
        why = f"{spec.name}'s Swarm task was not running within {START_TIMEOUT:.0f}s"
        raise self._not_started(service, remove, why, PULL_HINT)

    def _not_started(self, service: Service, remove: bool, why: str, hint: str) -> InstanceError:
        output = self._tail(service, 5)
        if remove:
            self._remove(service)
        return InstanceError(why + (f"; its last output:\n{output}" if output else ""), hint)

    def _remove(self, service: Service) -> None:
        """Remove the service, then the Docker secrets no other service uses any more; with the
        home's last instance service, its node agent."""
        names = [s["SecretName"] for s in _container_spec(service).get("Secrets", [])]
        service.remove()
        client = self._client()
        for name in names:
            for secret in client.secrets.list(filters={"name": name}):
                if secret.name == name:
                    with contextlib.suppress(docker.errors.APIError):  # in use by another service
                        secret.remove()
        if _role(service) == "instance" and not client.services.list(filters={"label": self._instances}):
            agent = self.agents.service(client)
            if agent is not None:
                self._remove(agent)

    def _started(self, client: DockerClient, service: Service, task: dict[str, Any]) -> Started:
        env = dict(e.split("=", 1) for e in _container_spec(service).get("Env", []))
        address = client.nodes.get(task["NodeID"]).attrs["Status"]["Addr"]
        endpoint = f"{address}:{env['PORT']}" if "PORT" in env else ""
        container = str(task["Status"].get("ContainerStatus", {}).get("ContainerID", ""))
        ref = TaskRef(str(service.id), str(task["ID"]), container)
        return Started(endpoint, ref.encode(), f"task {str(task['ID'])[:12]}")

    def stop(self, ref: str | None, timeout: float) -> bool:
        """Remove the service (Swarm stops its task: SIGTERM, then SIGKILL after its grace) and
        the Docker secrets that only it used."""
        service = self._service(ref)
        if service is not None:
            with contextlib.suppress(docker.errors.DockerException, InstanceError):
                self._remove(service)
        return False

    def alive(self, ref: str | None) -> bool:
        """Whether the task the ref names still runs (a replaced task is a restart for Shipyard)."""
        own, service = TaskRef.decode(ref), self._service(ref)
        if own is None or service is None:
            return False
        running = _running_task(service)
        return running is not None and running["ID"] == own.task

    def label(self, ref: str | None) -> str:
        own = TaskRef.decode(ref)
        return f"task {own.task[:12]}" if own else "not started"

    def pid(self, ref: str | None) -> int | None:
        return self.local.pid(self._container(ref))

    def _container(self, ref: str | None) -> str | None:
        own = TaskRef.decode(ref)
        return ContainerRef(own.container).encode() if own and own.container else None

    def usage(self, ref: str) -> Usage | None:
        """From Docker's stats API for a task on the manager's node, from the node agent elsewhere."""
        own, container = TaskRef.decode(ref), self._container(ref)
        if own is None or not container:
            return None
        try:
            client = self._client()
            api: Any = client.api
            node = str(api.inspect_task(own.task).get("NodeID", ""))
            if node == client.info()["Swarm"]["NodeID"]:
                return self.local.usage(container)
            address = str(client.nodes.get(node).attrs["Status"]["Addr"])
        except (docker.errors.DockerException, InstanceError, KeyError):
            return None
        return self.agents.usage(client, address, own.container)

    def forget_usage_except(self, live: set[str]) -> None:
        self.local.forget_usage_except({c for ref in live if (c := self._container(ref))})
        self.agents.forget_except({own.container for ref in live if (own := TaskRef.decode(ref))})

    def output_tail(self, ref: str | None, lines: int = 5) -> str:
        service = self._service(ref)
        return "" if service is None else self._tail(service, lines)

    def _tail(self, service: Service, lines: int) -> str:
        """The last lines of the service's tasks (on any node), through the service's logs."""
        try:
            text = b"".join(service.logs(stdout=True, stderr=True, tail=str(lines))).decode(errors="replace")
        except docker.errors.DockerException:
            return ""
        return text.strip()

    def outputs(self) -> list[OutputStream]:
        """The tasks' streams (on every node) and the one-off containers' (on the manager)."""
        try:
            client = self._client()
        except InstanceError:
            return []
        oneoffs = output_streams(client, {f"{LABEL}.home": self.home, f"{LABEL}.role": "oneoff"}, LABEL)
        return task_streams(client, self._instances, LABEL) + oneoffs

    def read_output(self, stream: OutputStream, known: Source | None) -> tuple[list[bytes], Source] | None:
        if not stream.key.startswith(PREFIX):
            return self.local.read_output(stream, known)
        try:
            return read_task_output(self._client(), stream, known, LABEL)
        except InstanceError:
            return None

    def orphans(self, known: set[int]) -> list[str]:
        """Services of this home whose instance id is not in ``known``."""
        try:
            services = self._client().services.list(filters={"label": self._instances})
        except (docker.errors.DockerException, InstanceError):
            return []
        return [
            TaskRef(str(s.id), "", "").encode()
            for s in services
            if int(s.attrs["Spec"]["Labels"].get(f"{LABEL}.instance", "0")) not in known
        ]

    def nodes(self) -> list[swarm.Node]:
        """The swarm's nodes from a manager's API (``shipyard nodes``)."""
        nodes: Any = self._client().nodes
        return [swarm.node_from(n.attrs) for n in nodes.list()]

    def run_once(self, job: OneOff) -> CommandResult:
        return self.local.run_once(job)  # a one-off container on the manager (pulled by digest)


def _tasks(service: Service) -> list[dict[str, Any]]:
    try:
        return list(service.tasks())
    except docker.errors.DockerException:
        return []


def _unplaced(service: Service) -> str:
    """The scheduler's reason when the service's only task is pending for want of a node."""
    tasks = [t for t in _tasks(service) if t.get("DesiredState") == "running"]
    reasons = [str(t["Status"].get("Err", "")) for t in tasks if t["Status"]["State"] == "pending"]
    return reasons[0] if len(reasons) == len(tasks) == 1 and "no suitable node" in reasons[0] else ""


def _container_spec(service: Service) -> dict[str, Any]:
    return dict(service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"])


def _role(service: Service) -> str:
    return str(service.attrs["Spec"].get("Labels", {}).get(f"{LABEL}.role", ""))


def _image(service: Service) -> str:
    return str(_container_spec(service).get("Image", ""))


def _running_task(service: Service) -> dict[str, Any] | None:
    """The service's running task; None when it has none (or the service is gone meanwhile)."""
    try:
        tasks = service.tasks(filters={"desired-state": "running"})
    except docker.errors.DockerException:
        return None
    return next((dict(t) for t in tasks if t["Status"]["State"] == "running"), None)
