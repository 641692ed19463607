"""Shipyard's node agent: CPU and memory of a container on its node, read from the node's cgroups.

Not imported by the control plane at run time: ``node_agent.py`` passes this file's text to
``python3 -c`` as the command of a Swarm global service (one task per node, on the host's
network), so it uses the standard library only and runs on the Python of ``build.image``. The
unit tests import it to check its parsing. It reads the node's cgroup tree, bind-mounted
read-only at ``CGROUP`` (never the Docker socket, which would be root on the node), for
cgroup v1 (``cpuacct/docker/<id>``, ``memory/docker/<id>``) and v2 (``docker-<id>.scope``
under ``system.slice``, or ``docker/<id>``). It answers only ``GET /usage/<container id>``
(64 hex digits, checked before any path is made of it) with JSON: ``cpu_seconds``,
``rss_bytes`` (memory in use less the inactive page cache, as ``docker stats`` counts it),
``memory_limit_bytes`` (null without a limit) and ``memory_total_bytes`` (the node's, from
``/proc/meminfo``). Every request must carry ``Authorization: Bearer <token>``, the token
being the Docker secret mounted at ``TOKEN_FILE``; anything else is a 401. It logs nothing.
"""

from __future__ import annotations

import hmac
import json
import os
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CGROUP = "/host/sys/fs/cgroup"
TOKEN_FILE = "/run/secrets/SHIPYARD_AGENT_TOKEN"
CONTAINER_ID = re.compile(r"[0-9a-f]{64}")
V2_DIRS = ("system.slice/docker-{id}.scope", "docker/{id}")
V1_CPU_DIRS = ("cpuacct/docker/{id}", "cpu,cpuacct/docker/{id}", "cpuacct/system.slice/docker-{id}.scope")
V1_MEMORY_DIRS = ("memory/docker/{id}", "memory/system.slice/docker-{id}.scope")
V2_FILES = ("cpu.stat", "memory.current", "memory.stat", "memory.max")
V1_MEMORY_FILES = ("memory.usage_in_bytes", "memory.stat", "memory.limit_in_bytes")


def stat_value(text: str, key: str) -> int:
    """The value of ``key`` in a ``key value`` per line file (cpu.stat, memory.stat); 0 if absent."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key:
            return int(parts[1])
    return 0


def limit(text: str, total: int) -> int | None:
    """A memory limit file's value; None for none (v2's ``max``, v1's huge number)."""
    value = text.strip()
    if not value.isdigit() or int(value) >= total:
        return None
    return int(value)


def v1_usage(
    cpuacct_usage: str, usage_in_bytes: str, memory_stat: str, limit_in_bytes: str, total: int
) -> dict[str, object]:
    """A container's figures from its cgroup v1 files (CPU time in nanoseconds)."""
    rss = int(usage_in_bytes) - stat_value(memory_stat, "total_inactive_file")
    return answer(int(cpuacct_usage) / 1e9, rss, limit(limit_in_bytes, total), total)


def v2_usage(
    cpu_stat: str, memory_current: str, memory_stat: str, memory_max: str, total: int
) -> dict[str, object]:
    """A container's figures from its cgroup v2 files (CPU time in microseconds)."""
    rss = int(memory_current) - stat_value(memory_stat, "inactive_file")
    return answer(stat_value(cpu_stat, "usage_usec") / 1e6, rss, limit(memory_max, total), total)


def answer(cpu_seconds: float, rss: int, limit_bytes: int | None, total: int) -> dict[str, object]:
    return {
        "cpu_seconds": cpu_seconds,
        "rss_bytes": max(rss, 0),
        "memory_limit_bytes": limit_bytes,
        "memory_total_bytes": total,
    }


def meminfo_total(text: str) -> int:
    """The node's memory in bytes, from /proc/meminfo's ``MemTotal: N kB``."""
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise ValueError("no MemTotal in /proc/meminfo")


def read(path: str) -> str:
    with open(path) as file:
        return file.read()


def first_dir(root: str, candidates: tuple[str, ...], container: str, marker: str) -> str | None:
    """The first of the candidate folders (below ``root``) that holds the file ``marker``."""
    for candidate in candidates:
        folder = os.path.join(root, candidate.format(id=container))
        if os.path.isfile(os.path.join(folder, marker)):
            return folder
    return None


def container_usage(root: str, container: str, total: int) -> dict[str, object] | None:
    """The container's figures from the cgroup tree at ``root``; None when it has no cgroup here."""
    v2 = first_dir(root, V2_DIRS, container, "cpu.stat")
    if v2 is not None and os.path.isfile(os.path.join(v2, "memory.current")):
        cpu_stat, current, stat, most = (read(os.path.join(v2, f)) for f in V2_FILES)
        return v2_usage(cpu_stat, current, stat, most, total)
    cpu = first_dir(root, V1_CPU_DIRS, container, "cpuacct.usage")
    memory = first_dir(root, V1_MEMORY_DIRS, container, "memory.usage_in_bytes")
    if cpu is None or memory is None:
        return None
    usage, stat, most = (read(os.path.join(memory, f)) for f in V1_MEMORY_FILES)
    return v1_usage(read(os.path.join(cpu, "cpuacct.usage")), usage, stat, most, total)


def authorized(header: str, token: str) -> bool:
    return bool(token) and hmac.compare_digest(header.encode(), f"Bearer {token}".encode())


class Handler(BaseHTTPRequestHandler):
    token = ""
    root = CGROUP

    def do_GET(self) -> None:
        if not authorized(self.headers.get("Authorization", ""), self.token):
            return self.reply(401, {"error": "a bearer token is required"})
        container = self.path.removeprefix("/usage/")
        if not self.path.startswith("/usage/"):
            return self.reply(404, {"error": "only GET /usage/<container id> is answered"})
        if not CONTAINER_ID.fullmatch(container):
            return self.reply(400, {"error": "a container id is 64 hexadecimal digits"})
        try:
            got = container_usage(self.root, container, meminfo_total(read("/proc/meminfo")))
        except (OSError, ValueError):
            got = None  # the container ended while it was read
        if got is None:
            return self.reply(404, {"error": "no such container on this node"})
        return self.reply(200, got)

    def do_POST(self) -> None:
        if not authorized(self.headers.get("Authorization", ""), self.token):
            return self.reply(401, {"error": "a bearer token is required"})
        return self.reply(405, {"error": "only GET is answered"})

    do_PUT = do_DELETE = do_PATCH = do_POST

    def reply(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return  # nothing is logged


def main() -> None:
    Handler.token = read(TOKEN_FILE).strip()
    ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()


if __name__ == "__main__":
    main()
