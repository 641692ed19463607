"""The Swarm node agent's pure parts: its reading of cgroup v1 and v2 files (from fixture text
and fixture trees), its token check, its HTTP answers over a real socket (on a fixture tree), and
the runtime's parsing of its answer. The agent on a real swarm is in ``test_swarm_usage.py``."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shipyard.core import swarm
from shipyard.drivers.runtime import node_agent_script as agent
from shipyard.drivers.runtime.node_agent import Reading, agent_image, parse_reading

CID = "ab" * 32
GIB = 1024**3
V1_STAT = "cache 4096\nrss 2000000\ntotal_cache 8192\ntotal_inactive_file 1048576\ntotal_rss 2000000\n"
V2_STAT = "anon 2000000\nfile 8192\nactive_file 4096\ninactive_file 524288\n"
CPU_STAT = "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n"


def test_cgroup_v1_files_give_cpu_seconds_and_memory_less_the_inactive_cache() -> None:
    got = agent.v1_usage("3500000000\n", "5242880\n", V1_STAT, "9223372036854771712\n", 4 * GIB)
    assert got == {
        "cpu_seconds": 3.5,
        "rss_bytes": 5242880 - 1048576,
        "memory_limit_bytes": None,  # v1's "no limit" is a huge number
        "memory_total_bytes": 4 * GIB,
    }
    limited = agent.v1_usage("0\n", "100\n", "", "268435456\n", 4 * GIB)
    assert limited["memory_limit_bytes"] == 268435456 and limited["rss_bytes"] == 100


def test_cgroup_v2_files_give_cpu_seconds_and_memory_less_the_inactive_file_pages() -> None:
    got = agent.v2_usage(CPU_STAT, "3145728\n", V2_STAT, "max\n", 2 * GIB)
    assert got == {
        "cpu_seconds": 2.5,
        "rss_bytes": 3145728 - 524288,
        "memory_limit_bytes": None,
        "memory_total_bytes": 2 * GIB,
    }
    assert (
        agent.v2_usage(CPU_STAT, "10\n", V2_STAT, "67108864\n", 2 * GIB)["rss_bytes"] == 0
    )  # never negative
    assert agent.v2_usage(CPU_STAT, "10\n", "", "67108864\n", 2 * GIB)["memory_limit_bytes"] == 67108864


def test_the_nodes_memory_comes_from_meminfo() -> None:
    assert agent.meminfo_total("MemTotal:        8048356 kB\nMemFree: 1 kB\n") == 8048356 * 1024
    with pytest.raises(ValueError, match="MemTotal"):
        agent.meminfo_total("MemFree: 1 kB\n")


def write(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)


def v1_tree(root: Path) -> None:
    write(root / "cpuacct" / "docker" / CID, {"cpuacct.usage": "1500000000\n"})
    memory = {
        "memory.usage_in_bytes": "4194304\n",
        "memory.stat": V1_STAT,
        "memory.limit_in_bytes": "8388608\n",
    }
    write(root / "memory" / "docker" / CID, memory)


@pytest.mark.parametrize("layout", ["system.slice/docker-{id}.scope", "docker/{id}"])
def test_a_containers_cgroup_is_found_under_v2_layouts(tmp_path: Path, layout: str) -> None:
    files = {
        "cpu.stat": CPU_STAT,
        "memory.current": "1048576\n",
        "memory.stat": V2_STAT,
        "memory.max": "max\n",
    }
    write(tmp_path / layout.format(id=CID), files)
    got = agent.container_usage(str(tmp_path), CID, GIB)
    assert got is not None and got["cpu_seconds"] == 2.5 and got["rss_bytes"] == 1048576 - 524288


def test_a_containers_cgroup_is_found_under_v1_controllers(tmp_path: Path) -> None:
    v1_tree(tmp_path)
    got = agent.container_usage(str(tmp_path), CID, GIB)
    assert got == {
        "cpu_seconds": 1.5,
        "rss_bytes": 4194304 - 1048576,
        "memory_limit_bytes": 8388608,
        "memory_total_bytes": GIB,
    }
    assert agent.container_usage(str(tmp_path), "cd" * 32, GIB) is None  # not on this node


def test_only_the_exact_bearer_token_is_authorized() -> None:
    assert agent.authorized("Bearer s3cret", "s3cret")
    for header in ("", "s3cret", "Bearer s3cre", "Bearer s3cret ", "bearer s3cret", "Basic s3cret"):
        assert not agent.authorized(header, "s3cret")
    assert not agent.authorized("Bearer ", "")  # an agent without a token lets nobody in


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """The agent's handler on a free port, over a v1 fixture tree, with the token ``t0ken``."""
    v1_tree(tmp_path)
    handler = type("Handler", (agent.Handler,), {"token": "t0ken", "root": str(tmp_path)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class Answer:
    status_code: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def ask(url: str, path: str, token: str | None = "t0ken", method: str = "GET") -> Answer:
    """A raw request (``http.client`` sends the path as written, ``..`` included)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request(
            method, path, headers={"Authorization": f"Bearer {token}"} if token is not None else {}
        )
        got = connection.getresponse()
        return Answer(got.status, got.read().decode())
    finally:
        connection.close()


def test_the_agent_answers_a_containers_usage_to_its_token_only(served: str) -> None:
    good = ask(served, f"/usage/{CID}")
    assert good.status_code == 200
    reading = parse_reading(good.text)
    assert reading is not None and reading.cpu_seconds == 1.5 and reading.rss_bytes == 4194304 - 1048576
    assert reading.memory_total_bytes > 0  # this machine's /proc/meminfo
    for token in (None, "wrong", ""):
        refused = ask(served, f"/usage/{CID}", token)
        assert refused.status_code == 401 and CID not in refused.text
    assert ask(served, f"/usage/{CID}", None, "POST").status_code == 401
    assert ask(served, f"/usage/{CID}", method="DELETE").status_code == 405


@pytest.mark.parametrize(
    "path",
    ["/usage/../../../etc/passwd", "/usage/" + "AB" * 32, "/usage/" + CID + "/..", "/usage/abc", "/usage/"],
)
def test_a_bad_container_id_is_refused_before_any_path_is_made(served: str, path: str) -> None:
    got = ask(served, path)
    assert got.status_code == 400 and "64 hexadecimal" in got.json()["error"]


def test_other_paths_and_unknown_containers_are_not_found(served: str) -> None:
    assert ask(served, "/metrics").status_code == 404
    assert ask(served, "/usage/" + "cd" * 32).status_code == 404


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            '{"cpu_seconds": 1.5, "rss_bytes": 10, "memory_limit_bytes": null, "memory_total_bytes": 100}',
            Reading(1.5, 10, None, 100),
        ),
        (
            '{"cpu_seconds": 2, "rss_bytes": 0, "memory_limit_bytes": 64, "memory_total_bytes": 100}',
            Reading(2.0, 0, 64, 100),
        ),
        ('{"cpu_seconds": true, "rss_bytes": 0, "memory_total_bytes": 100}', None),
        ('{"cpu_seconds": 1, "rss_bytes": -1, "memory_total_bytes": 100}', None),
        ('{"cpu_seconds": 1, "rss_bytes": 1, "memory_total_bytes": 0}', None),
        ('{"cpu_seconds": 1, "rss_bytes": "1", "memory_total_bytes": 100}', None),
        ('{"cpu_seconds": 1, "rss_bytes": 1, "memory_limit_bytes": "x", "memory_total_bytes": 100}', None),
        ("[1, 2]", None),
        ("not json", None),
    ],
)
def test_the_agents_answer_is_parsed_or_refused(body: str, expected: Reading | None) -> None:
    assert parse_reading(body) == expected


def test_the_agent_runs_on_the_releases_build_image() -> None:
    assert (
        agent_image("app: a\nbuild:\n  image: shipyard-test/python:bookworm\n")
        == "shipyard-test/python:bookworm"
    )
    assert agent_image("app: a\n") == "python:3.12-slim"  # the manifest's default


def test_a_nodes_description_from_the_swarm_api() -> None:
    attrs = {
        "ID": "n1",
        "Description": {"Hostname": "box"},
        "Spec": {"Role": "worker", "Availability": "active"},
        "Status": {"State": "ready", "Addr": "10.0.0.2"},
    }
    node = swarm.node_from(attrs)
    assert (node.role, node.state, node.address, node.leader) == ("worker", "ready", "10.0.0.2", False)
    assert json.dumps(swarm.node_from({}).state) == '"unknown"'
