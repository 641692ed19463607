"""``registry:`` and ``runtime: swarm`` end to end: the real control plane, CLI and HAProxy, a
local Docker registry and two private dockerd joined as a swarm, the second node in a network
namespace of its own (``swarm_rig``).

A release's image is pushed to the registry and its digest recorded; a registry that refuses
the push fails the deploy with a hint while the serving version keeps serving; on the swarm an
instance is a service whose task runs from that digest: deploy and rollback, a crashed task
restarted, secrets as Docker secrets (not in the service's environment, removed with the last
service that uses them), and a node drained under traffic with no failed request (the task
moves, HAProxy's server follows). Faults (issue 16 item 6; a manager that does not answer
is in ``test_docker_faults.py``): an image that does not start, a placement no node meets and
a node lost in the middle of a deploy are each a clear error with a hint (or, for the lost
node, a converged deploy), and the serving version keeps serving. The swarm is
``swarm_rig``'s, one per xdist worker."""

from __future__ import annotations

import json
import subprocess
import threading
from typing import Any

import docker.errors
import httpx
import pytest
from tests.integration.conftest import Load, Shipyard
from tests.integration.ports import free_port
from tests.integration.receivers import wait_for
from tests.integration.swarm_rig import Swarm, lose_node, registry, swarm
from tests.integration.test_docker_faults import failed_deploy
from tests.integration.test_hung_instances import answers
from tests.integration.test_runtime_contract import crash_and_see_it_restarted
from tests.integration.tinyapp import on_swarm

pytestmark = pytest.mark.integration


@pytest.fixture
def rig(swarm_rig: Swarm) -> Swarm:
    return swarm_rig  # one swarm per xdist worker, shared with the runtime contract


def version(sy: Shipyard, value: str) -> None:
    (sy.app / "version.txt").write_text(value + "\n")


def services(rig: Swarm, sy: Shipyard) -> list[Any]:
    """This control plane's instance services (an earlier test's may still be going away)."""
    home = f"io.shipyard.home={sy.home.resolve()}"
    return list(rig.manager.client.services.list(filters={"label": [home, "io.shipyard.role=instance"]}))


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
    home = str(sy.home.resolve())  # the rig is shared: other tests' containers run on it too
    [container] = [
        c for c in seen if c.labels.get("io.shipyard.instance") and c.labels.get("io.shipyard.home") == home
    ]
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


def test_docker_secrets_go_with_the_last_service_that_uses_them(shipyard: Shipyard, rig: Swarm) -> None:
    sy = on_swarm(shipyard, rig)
    made: list[set[str]] = []
    for n, value in enumerate(("first-value", "second-value", "third-value")):
        sy.cli("secrets", "set", "dev", "API_KEY", input=f"{value}\n")
        version(sy, f"v{n + 1}")
        sy.cli("deploy")
        made.append(secrets(rig, sy))
    first, _, now = made
    used = {s["SecretName"] for svc in services(rig, sy) for s in container_spec(svc).get("Secrets", [])}
    assert now == used  # r1's services are gone (r2 stays as the standby colour), and its secret
    assert not first & now
    assert len(now) == 2


def secrets(rig: Swarm, sy: Shipyard) -> set[str]:
    home = f"io.shipyard.home={sy.home.resolve()}"
    found = rig.manager.client.secrets.list(filters={"label": [home]})
    return {s.name for s in found if "-shipyard_agent_token-" not in s.name}  # not the node agent's token


def container_spec(service: Any) -> dict[str, Any]:
    return dict(service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"])


def test_a_node_lost_in_the_middle_of_a_deploy_leaves_the_serving_version_serving(shipyard: Shipyard) -> None:
    """The second dockerd stops while the deploy waits for its tasks (a private swarm: the
    shared one keeps its two nodes): the deploy converges on the manager or fails with a hint;
    either way the environment answers, from v1 or from a v2 that passed its checks."""
    with swarm(free_port) as own:
        sy = on_swarm(shipyard, own, instances=2)
        sy.manifest["processes"]["web"]["placement"] = ["node.role == manager"]
        sy.write_manifest()
        sy.cli("deploy")  # v1 on the manager only
        del sy.manifest["processes"]["web"]["placement"]
        sy.write_manifest()
        version(sy, "v2")
        with Load(sy.port) as load:
            deploying = threading.Thread(target=lambda: outcome.append(sy.cli("deploy", check=False)))
            outcome: list[subprocess.CompletedProcess[str]] = []
            deploying.start()
            wait_for(lambda: on_worker(own, sy), 60, "a v2 task on the worker")
            lose_node(own.worker)  # not drained: gone, with its tasks
            deploying.join(240)
        done = outcome[0]
        text = done.stdout + done.stderr
        if done.returncode != 0:
            assert "Try:" in text and "instance" in text, text
            assert wait_for(lambda: answers(sy), 30, "the app") == "v1"
        else:
            assert wait_for(lambda: answers(sy), 30, "the app") == "v2"
        assert load.ok > 0
        assert load.failed == [], load.failed[:5]


def on_worker(rig: Swarm, sy: Shipyard) -> bool:
    worker = rig.worker_node_id()
    return any(t["NodeID"] == worker for t in running_tasks(rig, sy))


def test_an_image_that_does_not_start_on_the_swarm_is_refused_and_v1_keeps_serving(
    shipyard: Shipyard, rig: Swarm
) -> None:
    sy = on_swarm(shipyard, rig)
    sy.manifest.pop("database")  # the migration's one-off container would fail first
    sy.write_manifest()
    sy.cli("deploy")
    (sy.app / "Dockerfile").write_text("FROM scratch\nCOPY . /app\n")  # no shell, no Python
    out = failed_deploy(sy)
    # refused at the start (the task failed three times) or at the health check (it was
    # running an instant, then kept crashing): either way the reason and a hint
    assert "exec /bin/sh failed" in out, out
    assert "Try: check the image" in out or "Try: run the command by hand" in out
    assert answers(sy) == "v1"


def test_a_placement_no_node_meets_is_refused_quickly_and_v1_keeps_serving(
    shipyard: Shipyard, rig: Swarm
) -> None:
    sy = on_swarm(shipyard, rig)
    sy.cli("deploy")
    sy.manifest["processes"]["web"]["placement"] = ["node.labels.zone == nowhere"]
    sy.write_manifest()
    version(sy, "v2")
    out = failed_deploy(sy)
    assert "no node can run green-0's Swarm task: no suitable node" in out, out
    assert "processes placement" in out
    assert answers(sy) == "v1"
    assert len(services(rig, sy)) == 1  # the unplaceable service is not left behind


def test_a_registry_that_asks_for_a_login_serves_the_other_nodes_too(shipyard: Shipyard, rig: Swarm) -> None:
    """The push logs in with the vault's password, and so does the service's creation: the
    worker node (the only one the placement allows) pulls the image with the same login."""
    with registry(free_port(), login=("ci", "pull-and-push-42"), host=rig.address) as private:
        sy = on_swarm(shipyard, rig)
        sy.manifest["registry"] = {
            "address": private,
            "username": "ci",
            "password_secret": "REGISTRY_PASSWORD",
        }
        sy.manifest["processes"]["web"]["placement"] = ["node.role == worker"]
        sy.write_manifest()
        sy.cli("secrets", "set", "dev", "REGISTRY_PASSWORD", input="pull-and-push-42\n")
        out = sy.cli("deploy").stdout
        assert answers(sy) == "v1"
        assert [t["NodeID"] for t in running_tasks(rig, sy)] == [rig.worker_node_id()]
        assert "pull-and-push-42" not in out
