"""One contract, every runtime: the same deployment cases through the real control plane, CLI
and HAProxy, with instances as local processes (``runtime: process``), as containers on a
private Docker Engine (``runtime: docker``, the ``docker_rig``) and as services of a two-node
Docker Swarm with a local registry (``runtime: swarm``, the ``swarm_rig``, one per xdist
worker, shared with ``test_swarm_runtime.py``): deploy, rollback, a broken
release refused while the serving version keeps serving, a crash restarted, a one-off command
(the migration) with its output, the instances' logs in the central logs, and their usage."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.integration.conftest import Shipyard
from tests.integration.receivers import wait_for
from tests.integration.test_hung_instances import answers
from tests.integration.tinyapp import on_swarm, use_tinyapp

pytestmark = pytest.mark.integration

RUNTIMES = ["process", "docker", "swarm"]


@pytest.fixture(params=RUNTIMES)
def tiny(request: pytest.FixtureRequest, shipyard: Shipyard) -> Iterator[Shipyard]:
    """The control plane running the stdlib-only tinyapp on the runtime of the parameter."""
    if request.param == "swarm":
        yield on_swarm(shipyard, request.getfixturevalue("swarm_rig"))
        return
    engine = request.getfixturevalue("docker_engine") if request.param == "docker" else None
    use_tinyapp(shipyard, engine.url if engine else None)
    shipyard.up()
    yield shipyard


def version(sy: Shipyard, value: str) -> None:
    (sy.app / "version.txt").write_text(value + "\n")


def test_deploy_and_rollback(tiny: Shipyard) -> None:
    tiny.cli("deploy")
    assert tiny.serving() == {"app": "tiny", "version": "v1"}
    version(tiny, "v2")
    tiny.cli("deploy")
    assert answers(tiny) == "v2"
    tiny.cli("rollback")
    assert answers(tiny) == "v1"


def test_the_data_folder_outlives_releases(tiny: Shipyard) -> None:
    tiny.cli("deploy")
    visit = f"{tiny.app_url()}/visit"
    assert httpx.get(visit, timeout=5, trust_env=False).json()["visits"] == 1
    version(tiny, "v2")
    tiny.cli("deploy")
    again = httpx.get(visit, timeout=5, trust_env=False).json()
    assert again == {"app": "tiny", "version": "v2", "visits": 2}


def test_a_broken_release_is_refused_and_the_serving_version_keeps_serving(tiny: Shipyard) -> None:
    tiny.cli("deploy")
    version(tiny, "broken")
    failed = tiny.cli("deploy", check=False)
    assert failed.returncode != 0
    assert "broken on purpose" in failed.stdout + failed.stderr  # the instance's last output
    assert answers(tiny) == "v1"


def test_a_crashed_instance_is_restarted(tiny: Shipyard) -> None:
    tiny.cli("deploy")
    crash_and_see_it_restarted(tiny, 30)


def crash_and_see_it_restarted(tiny: Shipyard, timeout: float) -> None:
    """Crash the serving instance through its /crash; the same instance answers again (also
    used by the swarm tests)."""
    before = tiny.status()["instances"][0]
    with contextlib.suppress(httpx.HTTPError):  # the instance ends while it answers
        httpx.get(f"{tiny.app_url()}/crash", timeout=5, trust_env=False)
    after = wait_for(
        lambda: (i := tiny.status()["instances"][0])["restarts"] > before["restarts"] and i["alive"] and i,
        timeout,
        "the restart",
    )
    assert after["name"] == before["name"]
    assert wait_for(lambda: answers(tiny), 20, "the app again") == "v1"


def test_the_migration_runs_as_a_one_off_command_of_the_release(tiny: Shipyard) -> None:
    out = tiny.cli("deploy").stdout
    assert "migrate" in out
    logged = wait_for(
        lambda: tiny.cli("logs", "dev", "--grep", "migrating the schema").stdout.strip(), 20, "its output"
    )
    assert "migrating the schema for v1" in logged


def test_logs_and_usage_of_the_instances(tiny: Shipyard) -> None:
    tiny.cli("deploy")
    httpx.get(f"{tiny.app_url()}/from-the-contract", timeout=5, trust_env=False)
    logged = wait_for(
        lambda: tiny.cli("logs", "dev", "--grep", "from-the-contract", "--release", "r1").stdout.strip(),
        20,
        "the request's log line",
    )
    assert "GET /from-the-contract" in logged
    listening = tiny.cli("logs", "dev", "--grep", "listening on", "--release", "r1").stdout
    assert "tinyapp v1 listening" in listening  # attributed to the release through the marker

    def memory() -> float | None:
        with tiny.api() as api:
            text = api.get("/metrics").text
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == "shipyard_instance_memory_bytes" and s.labels.get("instance") == "blue-0":
                    return float(s.value)
        return None

    assert wait_for(memory, 20, "the instance's memory") > 1e6


def test_a_worker_follows_the_serving_release(tiny: Shipyard) -> None:
    """A process other than web: no port, started with its release, replaced by the next one."""
    tiny.manifest["processes"]["ticker"] = {
        "command": "python3 -u -c \"import time; [print('tick', open('version.txt').read().strip(), "
        'flush=True) or time.sleep(0.3) for _ in iter(int, 1)]"',
        "settle": "500ms",
    }
    tiny.write_manifest()
    tiny.cli("deploy")

    def only(release: str) -> dict[str, object] | None:
        now = list(tiny.status()["workers"])
        return now[0] if len(now) == 1 and now[0]["release"] == release and now[0]["alive"] else None

    first = wait_for(lambda: only("r1"), 20, "r1's worker")
    assert first["name"] == "ticker-blue-0"
    version(tiny, "v2")
    tiny.cli("deploy")
    assert wait_for(lambda: only("r2"), 20, "r2's worker alone")["name"] == "ticker-green-0"
    ticks = ("logs", "dev", "--grep", "tick v2", "--release", "r2")
    logged = wait_for(lambda: tiny.cli(*ticks).stdout.strip(), 20, "its ticks")
    assert "tick v2" in logged
