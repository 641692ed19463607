"""Containers' output through the Docker Engine's logs API, for the central logs and errors.

Called by the docker runtime (``docker_runtime.DockerRuntime``: its ``outputs``,
``read_output`` and ``output_tail``). Each container of this home has two streams (stdout,
stderr) keyed ``docker:<container id>:<stream>``; a stream's position is the byte offset in
its log as the logs API returns it, opened by the same ``--- shipyard: starting instance N``
marker the process runtime writes at an instance's start, so the log service knows the
instance (and its release) as it does for log files. An exited container is kept until its
output has been read (``KEEP_EXITED`` after it ended), then ``sweep`` removes it.
"""

from __future__ import annotations

import datetime as dt

import docker.errors
from docker import DockerClient
from docker.models.containers import Container

from shipyard.core.logline import Source
from shipyard.drivers.runtime.logfiles import OutputStream

KEEP_EXITED = 60.0  # seconds an exited container's output stays readable (the tail of a crash)


def stream_key(container_id: str, stream: str) -> str:
    return f"docker:{container_id}:{stream}"


def container_of(key: str) -> str:
    return key.split(":")[1]


def output_streams(client: DockerClient, labels: dict[str, str], label: str) -> list[OutputStream]:
    """Both output streams of every container (running or exited) carrying ``labels``."""
    try:
        found = client.containers.list(all=True, filters={"label": [f"{k}={v}" for k, v in labels.items()]})
    except docker.errors.DockerException:
        return []
    streams: list[OutputStream] = []
    for container in found:
        env, name = container.labels.get(f"{label}.env", ""), container.labels.get(f"{label}.name", "")
        for which in ("stdout", "stderr"):
            streams.append(OutputStream(stream_key(str(container.id), which), env, name, which))
    return streams


def read_container_output(
    container: Container, stream: OutputStream, known: Source | None, label: str
) -> tuple[list[bytes], Source] | None:
    """The complete lines of ``stream`` after ``known`` and the position after them; None if none."""
    try:
        raw = container.logs(stdout=stream.stream == "stdout", stderr=stream.stream == "stderr")
    except docker.errors.DockerException:
        return None
    instance = container.labels.get(f"{label}.instance")
    return lines_after(bytes(raw), instance, f"container {str(container.id)[:12]}", stream, known)


def lines_after(
    raw: bytes, instance: str | None, where: str, stream: OutputStream, known: Source | None
) -> tuple[list[bytes], Source] | None:
    """The complete lines of a whole log ``raw`` after ``known`` (opened by the instance's
    start marker, so the log service knows its release); None when there is none."""
    marker = f"--- shipyard: starting instance {instance} in {where}\n"
    data = (marker.encode() if instance else b"") + raw
    offset = known.offset if known is not None and known.offset <= len(data) else 0
    instance_id = known.instance_id if known is not None else None
    end = data.rfind(b"\n", offset)
    if end < 0:
        return None if known is not None else ([], Source(stream.key, 0, 0, None, False))
    return data[offset:end].split(b"\n"), Source(stream.key, 0, end + 1, instance_id, False)


def tail(container: Container, lines: int, both_streams_in_order: bool = False) -> str:
    """The last ``lines`` of stdout, then of stderr (or of both, interleaved, as written)."""
    try:
        if both_streams_in_order:
            return bytes(container.logs(tail=lines)).decode(errors="replace").rstrip("\n")
        out = bytes(container.logs(stdout=True, stderr=False, tail=lines)).decode(errors="replace")
        err = bytes(container.logs(stdout=False, stderr=True, tail=lines)).decode(errors="replace")
    except docker.errors.DockerException:
        return ""
    return "\n".join(line for line in (out + err).splitlines())


def sweep(container: Container, keep: float = KEEP_EXITED) -> None:
    """Remove ``container`` when it exited more than ``keep`` seconds ago (its output is read)."""
    try:
        container.reload()
        if container.status not in ("exited", "dead"):
            return
        finished = dt.datetime.strptime(container.attrs["State"]["FinishedAt"][:19], "%Y-%m-%dT%H:%M:%S")
        age = dt.datetime.now(dt.UTC).replace(tzinfo=None) - finished
        if age.total_seconds() > keep:
            container.remove()
    except (docker.errors.DockerException, ValueError, KeyError):
        return
