"""Swarm tasks' output through the Swarm API's task logs, for the central logs, on any node.

Called by the swarm runtime (``swarm_runtime.SwarmRuntime``: its ``outputs`` and
``read_output``). A manager answers the logs of every task of the swarm, wherever the task
runs (it asks the task's node), so the output of a task on another node reaches the central
logs as a local one does. Each task of this home's services has two streams (stdout,
stderr) keyed ``swarm:<task id>:<stream>``; a stream's position is the byte offset in the
task's log, opened by the ``--- shipyard: starting instance N`` marker (``container_logs``),
so the log service knows the instance and its release. A task's log lasts as long as Swarm
keeps the task (its task history; a removed service's tasks go with it).
"""

from __future__ import annotations

import struct
from typing import Any

import docker.errors
from docker import DockerClient

from shipyard.core.logline import Source
from shipyard.drivers.runtime.container_logs import lines_after
from shipyard.drivers.runtime.logfiles import OutputStream

PREFIX = "swarm:"


def task_streams(client: DockerClient, wanted: list[str], label: str) -> list[OutputStream]:
    """Both output streams of every task (running or ended) of the services carrying the labels ``wanted``."""
    try:
        services: Any = client.services.list(filters={"label": wanted})
        found = [(s.attrs["Spec"].get("Labels", {}), t) for s in services for t in s.tasks()]
    except docker.errors.DockerException:
        return []  # a service removed meanwhile: the next round lists again
    streams = []
    for labels, task in found:
        env, name = labels.get(f"{label}.env", ""), labels.get(f"{label}.name", "")
        for which in ("stdout", "stderr"):
            streams.append(OutputStream(f"{PREFIX}{task['ID']}:{which}", env, name, which))
    return streams


def read_task_output(
    client: DockerClient, stream: OutputStream, known: Source | None, label: str
) -> tuple[list[bytes], Source] | None:
    """The complete lines of a task's ``stream`` after ``known``; None when none (or it is gone)."""
    task_id = stream.key.split(":")[1]
    api: Any = client.api
    try:
        task = api.inspect_task(task_id)
        params = {"stdout": stream.stream == "stdout", "stderr": stream.stream == "stderr"}
        answer = api._get(api._url("/tasks/{0}/logs", task_id), params=params, stream=False)
        api._raise_for_status(answer)
    except docker.errors.DockerException:
        return None
    labels = task["Spec"]["ContainerSpec"].get("Labels", {})
    where = f"task {task_id[:12]}"
    return lines_after(payload(answer.content), labels.get(f"{label}.instance"), where, stream, known)


def payload(framed: bytes) -> bytes:
    """The bytes of a log answer's frames (8-byte header: stream, 3 zeros, big-endian length)."""
    out, at = bytearray(), 0
    while at + 8 <= len(framed):
        (size,) = struct.unpack(">I", framed[at + 4 : at + 8])
        out += framed[at + 8 : at + 8 + size]
        at += 8 + size
    return bytes(out)
