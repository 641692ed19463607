"""``registry:`` and ``runtime: swarm`` end to end: the real control plane, CLI and HAProxy, a
local Docker registry and two private dockerd joined as a swarm on loopback (``swarm_rig``).

A release's image is pushed to the registry and its digest recorded; a registry that refuses
the push fails the deploy with a hint while the serving version keeps serving; on the swarm an
instance is a service whose task runs from that digest: deploy and rollback, a crashed task
restarted, secrets as Docker secrets (not in the service's environment), and a node drained
under traffic with no failed request (the task moves, HAProxy's server follows)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import docker.errors
import httpx
import pytest
from tests.integration.conftest import Load, Shipyard, free_port
from tests.integration.receivers import wait_for
from tests.integration.swarm_rig import Swarm, swarm
from tests.integration.test_hung_instances import answers
from tests.integration.test_runtime_contract import crash_and_see_it_restarted
from tests.integration.tinyapp import use_tinyapp

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def rig() -> Iterator[Swarm]:
    with swarm(free_port) as made:
        yield made


def on_swarm(sy: Shipyard, rig: Swarm, instances: int = 1) -> Shipyard:
    use_tinyapp(sy, rig.manager.url)
    sy.manifest |= {"runtime": "swarm", "registry": {"address": rig.registry}}
    sy.manifest["processes"]["web"]["instances"] = instances
    sy.write_manifest()
    sy.up()
    return sy


def version(sy: Shipyard, value: str) -> None:
    (sy.app / "version.txt").write_text(value + "\n")


def services(rig: Swarm, sy: Shipyard) -> list[Any]:
    """This control plane's services (an earlier test's may still be going away)."""
    home = f"io.shipyard.home={sy.home.resolve()}"
    return list(rig.manager.client.services.list(filters={"label": [home]}))


def recorded(sy: Shipyard, release: str) -> dict[str, str]:
    data = json.loads((sy.home / "releases" / release / "release.json").read_text())
    return dict(data["image"])


def test_the_image_is_pushed_and_a_swarm_deploy_and_rollback_run_its_digest(
    shipyard: Shipyard, rig: Swarm
) -> None:
    sy = on_swarm(shipyard, rig)
    sy.cli("deploy")
    assert sy.serving() == {"app": "tiny", "version": "v1"}
    image = recorded(sy, "r1")
    assert image["digest"].startswith(f"{rig.registry}/shipyard/tiny@sha256:")
    tags = httpx.get(f"http://{rig.registry}/v2/shipyard/tiny/tags/list", timeout=5, trust_env=False).json()
    assert "r1" in tags["tags"]
    [service] = services(rig, sy)
    assert service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == image["digest"]
    version(sy, "v2")
    sy.cli("deploy")
    assert answers(sy) == "v2"
    sy.cli("rollback")
    assert answers(sy) == "v1"
    images = {s.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] for s in services(rig, sy)}
    assert images <= {image["digest"], recorded(sy, "r2")["digest"]}


def test_a_refused_push_fails_the_deploy_with_a_hint_and_the_serving_version_keeps_serving(
    shipyard: Shipyard, rig: Swarm
) -> None:
    sy = on_swarm(shipyard, rig)
    sy.cli("deploy")
    sy.manifest["registry"] = {"address": f"127.0.0.1:{free_port()}"}  # nothing listens there
    sy.write_manifest()
    version(sy, "v2")
    failed = sy.cli("deploy", check=False)
    text = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "refused the push" in text and "curl http://127.0.0.1:" in text
    assert answers(sy) == "v1"


def test_a_crashed_task_is_restarted(shipyard: Shipyard, rig: Swarm) -> None:
    sy = on_swarm(shipyard, rig)
    sy.cli("deploy")
    crash_and_see_it_restarted(sy, 60)  # Swarm replaces the task; Shipyard adopts it as a restart


def test_secrets_are_docker_secrets_not_in_the_environment(shipyard: Shipyard, rig: Swarm) -> None:
    sy = on_swarm(shipyard, rig)
    sy.cli("secrets", "set", "dev", "API_KEY", input="s3cret-value-42\n")
    sy.cli("deploy")
    [service] = services(rig, sy)
    spec = service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert not any("s3cret-value-42" in e for e in spec.get("Env", []))
    assert [s["File"]["Name"] for s in spec["Secrets"]] == ["API_KEY"]
    seen = [c for e in (rig.manager, rig.worker) for c in e.client.containers.list()]
    [container] = [c for c in seen if c.labels.get("io.shipyard.instance")]
    inspected = container.attrs["Config"]["Env"]
    assert not any("s3cret-value-42" in e for e in inspected)
    environ = "for p in /proc/[0-9]*; do tr '\\0' '\\n' < $p/environ; done"
    output = container.exec_run(["/bin/sh", "-c", environ]).output
    assert isinstance(output, bytes)
    got = output.decode(errors="replace")
    assert "API_KEY=s3cret-value-42" in got  # the app's process has it


def test_a_drained_node_moves_its_task_with_no_failed_request(shipyard: Shipyard, rig: Swarm) -> None:
    sy = on_swarm(shipyard, rig, instances=2)
    sy.cli("deploy")
    tasks = [t for s in services(rig, sy) for t in s.tasks(filters={"desired-state": "running"})]
    node = rig.manager.client.nodes.get(tasks[0]["NodeID"])
    try:
        with Load(sy.port) as load:
            wait_for(lambda: load.ok > 20, 30, "traffic")
            node.update({**node.attrs["Spec"], "Availability": "drain"})
            wait_for(
                lambda: (
                    all(t["NodeID"] != node.id for t in running_tasks(rig, sy))
                    and len(running_tasks(rig, sy)) == 2
                ),
                60,
                "the tasks off the drained node",
            )
            ok = load.ok
            wait_for(lambda: load.ok > ok + 100, 60, "traffic after the move")
    finally:
        node.reload()
        node.update({**node.attrs["Spec"], "Availability": "active"})
    assert load.failed == []
    assert answers(sy) == "v1"


def test_nodes_are_listed_with_their_state(shipyard: Shipyard, rig: Swarm) -> None:
    sy = on_swarm(shipyard, rig)
    lines = sy.cli("nodes").stdout.splitlines()
    assert len(lines) == 2
    assert any("manager leader" in line and "ready" in line for line in lines)
    assert any("worker" in line and rig.worker_node_id()[:12] in line for line in lines)


def running_tasks(rig: Swarm, sy: Shipyard) -> list[dict[str, Any]]:
    found = []
    for service in services(rig, sy):
        try:  # a service the reconciler replaces may be gone between the listing and this
            tasks = service.tasks(filters={"desired-state": "running"})
        except docker.errors.NotFound:
            continue
        found += [t for t in tasks if t["Status"]["State"] == "running"]
    return found
