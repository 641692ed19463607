"""CPU and memory of Swarm tasks on a node other than the manager's, through this home's node
agent (``drivers/runtime/node_agent.py``), on the real swarm of ``swarm_rig`` (its worker node in
a network namespace of its own, with its own address).

Web is pinned to the worker node: its memory and CPU reach ``/metrics`` from the agent there.
The agent is attacked over HTTP at the worker's address (no token, a wrong token, a bad
container id), its service holds no token (``docker service inspect``), the token is nowhere
in the home but its own 0600 file, and ``shipyard down`` removes the agent with the last
instance service."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.integration.conftest import Shipyard
from tests.integration.receivers import wait_for
from tests.integration.swarm_rig import Swarm
from tests.integration.tinyapp import on_swarm

pytestmark = pytest.mark.integration


def instance_metrics(sy: Shipyard) -> dict[str, float]:
    """blue-0's ``shipyard_instance_*`` samples in ``/metrics``."""
    with sy.api() as api:
        text = api.get("/metrics").text
    return {
        s.name: float(s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("shipyard_instance_") and s.labels.get("instance") == "blue-0"
    }


def agent_service(rig: Swarm, sy: Shipyard) -> Any:
    labels = [f"io.shipyard.home={sy.home.resolve()}", "io.shipyard.role=agent"]
    found = rig.manager.client.services.list(filters={"label": labels})
    return found[0] if found else None


def ask(address: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
    """A raw GET (the path as written) to the agent; (0, error) when it does not answer yet."""
    host, port = address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request("GET", path, headers=headers)
        got = connection.getresponse()
        return got.status, got.read().decode()
    except OSError as exc:
        return 0, str(exc)
    finally:
        connection.close()


def test_usage_of_a_task_on_the_worker_node_comes_from_the_agent_there(
    shipyard: Shipyard, swarm_rig: Swarm
) -> None:
    rig = swarm_rig
    sy = on_swarm(shipyard, rig)
    sy.manifest["processes"]["web"]["placement"] = ["node.role == worker"]
    sy.write_manifest()
    sy.cli("deploy")
    worker = rig.worker.client.info()["Swarm"]["NodeID"]
    home = str(sy.home.resolve())
    [web] = [
        c for c in rig.worker.client.containers.list() if c.labels.get("io.shipyard.home") == home
        and c.labels.get("io.shipyard.instance")
    ]  # fmt: skip
    assert sy.status()["instances"][0]["endpoint"].startswith(
        rig.manager.client.nodes.get(worker).attrs["Status"]["Addr"]
    )

    memory = wait_for(
        lambda: instance_metrics(sy).get("shipyard_instance_memory_bytes"), 60, "the memory figure"
    )
    assert memory > 1e6  # the tinyapp's Python process, read from the worker's cgroup
    cpu = wait_for(
        lambda: instance_metrics(sy).get("shipyard_instance_cpu_cores") is not None, 60, "a CPU figure"
    )
    assert cpu and instance_metrics(sy)["shipyard_instance_cpu_cores"] >= 0

    # the agent, attacked at the worker's address
    service = agent_service(rig, sy)
    port = service.attrs["Spec"]["Labels"]["io.shipyard.port"]
    address = f"{rig.manager.client.nodes.get(worker).attrs['Status']['Addr']}:{port}"
    token_file = sy.home / "node-agent.token"
    token = token_file.read_text().strip()
    assert token_file.stat().st_mode & 0o777 == 0o600
    good = {"Authorization": f"Bearer {token}"}
    _, body = wait_for(
        lambda: (got := ask(address, f"/usage/{web.id}", good))[0] == 200 and got, 30, "the agent"
    )
    assert json.loads(body)["rss_bytes"] > 1e6
    assert ask(address, f"/usage/{web.id}", {})[0] == 401
    assert ask(address, f"/usage/{web.id}", {"Authorization": f"Bearer {token[:-1]}x"})[0] == 401
    assert ask(address, f"/usage/{web.id}", {"Authorization": token})[0] == 401
    for bad in ("../../../../etc/passwd", str(web.id).upper(), str(web.id)[:12], f"{web.id}/.."):
        assert ask(address, f"/usage/{bad}", good)[0] == 400

    # no token in the service's spec, its tasks' containers' environment, or the home's other files
    inspected = json.dumps(service.attrs)
    assert token not in inspected and "SHIPYARD_AGENT_TOKEN" in inspected  # the secret's file name only
    containers = [c for e in (rig.manager, rig.worker) for c in e.client.containers.list()]
    agents = [
        c
        for c in containers
        if c.labels.get("io.shipyard.role") == "agent" and c.labels.get("io.shipyard.home") == home
    ]
    assert len(agents) == 2  # a global service: one task per node
    assert all(token not in json.dumps(c.attrs["Config"]) for c in agents)
    for path in sy.home.rglob("*"):
        if path.is_file() and path != token_file:
            assert token.encode() not in path.read_bytes(), path

    sy.cli("down")
    assert wait_for(lambda: agent_service(rig, sy) is None, 20, "the agent's removal")
    secrets = rig.manager.client.secrets.list(filters={"label": f"io.shipyard.home={home}"})
    assert not [s for s in secrets if "agent" in s.name]
