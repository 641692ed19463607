"""Zero-downtime benchmark on ``runtime: swarm``: ``zero_downtime.py --runtime swarm``.

The same scenario as ``zero_downtime.py`` (v1, throughput direct and through HAProxy, then
under a held wrk load: deploy v2, roll back, ``shipyard rollback`` forward and back, three
times, and a broken release refused), with the app's instances as services of a private
two-node Docker Swarm (the second node in a network namespace of its own) and its images pushed
to a local registry: the test rig's
(``tests/integration/swarm_rig.py``: two ``dockerd`` with their own roots, Debian's
``docker-registry``, the offline Python base image). The app is the stdlib-only tinyapp
(``tests/fixtures/tinyapp``: its versions are its ``version.txt``), so no dependency is
installed in the image and every build after the first is cached. Then, under a new held
load, the node running an instance of the serving colour is drained: Swarm moves its task,
the reconciler adopts the new task and HAProxy's server follows; ``drain_failed`` counts the
answers that were not 2xx (and socket errors) from the drain until the tasks run elsewhere
and a few seconds more. At the end: ``shipyard down``, the swarm and the registry stop.

    .venv/bin/python bench/zero_downtime.py --runtime swarm --connections 200

It needs root (the private ``dockerd``), ``dockerd``, ``docker-registry``, ``debootstrap``
(once, for the base image, cached in ``~/.cache/shipyard-test``), ``wrk`` and ``haproxy``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import docker.errors
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench folder is not a package
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test rig, tests/integration
from tests.integration.docker_rig import BASE_IMAGE
from tests.integration.swarm_rig import Swarm, swarm

import zero_downtime as zd
from zero_downtime import HOST, BenchError, log

TINY = zd.REPO / "tests" / "fixtures" / "tinyapp"
MOVE_TIMEOUT_S = 90.0


class SwarmBench(zd.Bench):
    def use(self, version: str) -> None:
        """tinyapp's version is its version.txt (``broken`` exits at start)."""
        (self.app_dir / "version.txt").write_text(version + "\n")


def prepare_tinyapp(app_dir: Path, rig: Swarm, proxy_port: int, instances: int) -> None:
    shutil.copytree(TINY, app_dir)
    manifest = yaml.safe_load((TINY / "shipyard.yaml").read_text())
    manifest |= {"runtime": "swarm", "registry": {"address": rig.registry}, "build": {"image": BASE_IMAGE}}
    manifest["environments"][zd.ENV] |= {"port": proxy_port, "env": {"BIND": "0.0.0.0"}}  # its node's address
    manifest["processes"]["web"]["instances"] = instances
    (app_dir / "shipyard.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))


def running_tasks(rig: Swarm, home: Path) -> list[dict[str, Any]]:
    """The running tasks of this run's services (``io.shipyard.home`` label)."""
    found = []
    labels = [f"io.shipyard.home={home}", "io.shipyard.role=instance"]  # not the node agent's
    for service in rig.manager.client.services.list(filters={"label": labels}):
        try:
            tasks = service.tasks(filters={"desired-state": "running"})
        except docker.errors.NotFound:  # a service removed between the listing and this
            continue
        found += [t for t in tasks if t["Status"]["State"] == "running"]
    return found


def drain_under_load(
    bench: SwarmBench, rig: Swarm, proxy_url: str, args: argparse.Namespace, root: Path
) -> dict[str, Any]:
    """Drain the node of one serving task under a held load; the load's failures and the move's time."""
    home = bench.cp.home.resolve()
    tasks = running_tasks(rig, home)
    node = rig.manager.client.nodes.get(tasks[0]["NodeID"])
    colour = bench.cp.status()["active_colour"]
    on_node = sum(1 for t in tasks if t["NodeID"] == node.id and f"-{colour}-" in service_name(rig, t))
    script = root / "count_non_2xx.lua"  # written by zero_downtime's held load
    load = zd.HeldLoad(f"{proxy_url}/", args.connections, 60 + zd.LOAD_HARD_EXTRA_S, script)
    load.start()
    moved_s: float | None = None
    try:
        time.sleep(args.settle)
        log(f"draining node {node.attrs['Description']['Hostname']} ({len(tasks)} task(s) on the swarm)")
        started = time.monotonic()
        node.update({**node.attrs["Spec"], "Availability": "drain"})
        seen: dict[str, str] = {}
        while time.monotonic() - started < MOVE_TIMEOUT_S:
            follow(bench, seen, started)
            now = running_tasks(rig, home)
            if len(now) == len(tasks) and all(t["NodeID"] != node.id for t in now) and all_alive(bench):
                moved_s = time.monotonic() - started
                break
            time.sleep(0.2)
        else:
            raise BenchError(f"the tasks were not off the drained node within {MOVE_TIMEOUT_S:g}s")
        log(f"tasks moved, alive and UP {moved_s:.1f}s after the drain; load held {2 * args.settle:g}s")
        time.sleep(args.settle * 2)
        result = load.stop()
    finally:
        load.kill()
        node.reload()
        node.update({**node.attrs["Spec"], "Availability": "active"})
    log(f"drain: {result.requests} requests, non-2xx {result.non_2xx}, socket errors {result.socket_errors}")
    return {
        "drain_failed": result.failed,
        "drain_statuses_non_2xx": result.statuses,
        "drain_serving_tasks_on_the_node": on_node,
        "drain_requests": result.requests,
        "drain_move_s": round(moved_s, 2),
    }


def service_name(rig: Swarm, task: dict[str, Any]) -> str:
    return str(rig.manager.client.services.get(task["ServiceID"]).name)


def follow(bench: SwarmBench, seen: dict[str, str], since: float) -> None:
    """Log each serving instance's change of endpoint, liveness or HAProxy state (the move's timeline)."""
    st = bench.cp.status()
    for i in st["instances"]:
        if i["name"].startswith(str(st["active_colour"])):
            now = f"{i['endpoint']} {i['state']} alive={i['alive']} haproxy={i['proxy_status']}"
            if seen.get(i["name"]) != now:
                seen[i["name"]] = now
                log(f"  +{time.monotonic() - since:5.2f}s {i['name']}: {now}")


def all_alive(bench: SwarmBench) -> bool:
    """Every running instance alive and back in HAProxy (UP): the move is over."""
    running = [i for i in bench.cp.status()["instances"] if i["state"] == "running"]
    return all(i["alive"] and i["proxy_status"] == "UP" for i in running)


def run(args: argparse.Namespace) -> dict[str, Any]:
    figures = zd.Figures()
    load = direct = proxy = None
    drained: dict[str, Any] = {"drain_failed": None}
    with zd.workspace(args.keep) as root, swarm(zd.free_port) as rig:
        app_dir, home = root / "app", root / "home"
        prepare_tinyapp(app_dir, rig, args.proxy_port, args.instances)
        cp = zd.ControlPlane(home, app_dir, args.cache_dir)
        cp.env["DOCKER_HOST"] = rig.manager.url
        proxy_url = f"http://{HOST}:{args.proxy_port}"
        watcher = zd.Watcher(proxy_url, path="/release")  # tinyapp's release id
        bench = SwarmBench(cp, app_dir, watcher, args.consecutive, args.settle, figures)
        try:
            if not zd.port_free(args.proxy_port):
                raise BenchError(f"port {args.proxy_port} is taken: pass another --proxy-port")
            cp.up(zd.free_port())
            zd.first_deploy(bench)
            direct, proxy = zd.measure_throughput(cp, proxy_url, args, frozenset({HOST, rig.address}))
            load = zd.held_load_run(bench, proxy_url, args, root)
            drained = drain_under_load(bench, rig, proxy_url, args, root)
        except (BenchError, OSError, RuntimeError) as exc:
            figures.errors.append(f"{type(exc).__name__}: {exc}")
            log(f"ERROR: {exc}")
        finally:
            watcher.close()
            figures.watcher_failures = watcher.failures
            zd.shutdown(cp, home, figures)
    out = zd.summary(args, load, direct, proxy, figures)
    out |= {"runtime": "swarm", "nodes": 2, **drained}
    goals = out["goals"]
    deploys = out["deploy_s_all"]
    del goals["deploy_under_15s"]
    goals["deploy_under_30s_cached"] = bool(deploys) and max(deploys) < 30
    goals["drain_failed_zero"] = drained["drain_failed"] == 0
    return out
