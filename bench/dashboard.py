"""Dashboard benchmark: the overview's render time with 20 environments, and its screenshots.

Starts a private Shipyard (control plane, HAProxy, the notes example with one instance per
environment, health checks every ``--health-interval``, 2 s by default) in a temporary folder
with ``--envs`` environments (20 by default), deploys the same release to each, signs in to
the dashboard as the bootstrap admin (a session cookie, as a browser would) and times
``--requests`` sequential ``GET /`` (the overview, every environment read as ``GET /api/status``
reads it, plus its last deployment) from the client, then as many ``GET /api/status`` alone. With
``--screenshots DIR`` it then drives Debian's chromium (Playwright) to save the overview and,
after switching ``env00`` to a canary (paused at 25% while a client sends it requests), the
canary's deployment page in progress, as ``DIR/dashboard-overview.png`` and
``DIR/dashboard-canary.png``.

Progress goes to stderr; the last line of stdout is one JSON object (``overview_ms_p50``,
``overview_ms_p95``, ``overview_goal_ms``, ``status_api_ms_p50``/``_p95``, the health interval
and the machine's 1-minute load average when measured). All traffic goes to 127.0.0.1; every wait is bounded.

    .venv/bin/python bench/dashboard.py
    .venv/bin/python bench/dashboard.py --screenshots docs
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench folder is not a package
import zero_downtime as zd
from zero_downtime import BenchError, ControlPlane, log

GOAL_MS = 100.0
CANARY = {"steps": [10, 25, 50, 100], "pause_at": [25], "interval": "3s",
          "analysis": {"error_rate": {"max": "1%"}, "min_requests": 20, "no_data": "pause"}}  # fmt: skip


def prepare(app_dir: Path, envs: int, health_interval: str) -> dict[str, int]:
    """The example with one instance and ``envs`` environments on free ports; their ports."""
    zd.prepare_app(app_dir, zd.free_port(), instances=1)
    manifest = yaml.safe_load((app_dir / "shipyard.yaml").read_text())
    manifest["health"]["interval"] = health_interval
    ports = {f"env{i:02d}": zd.free_port() for i in range(envs)}
    manifest["environments"] = {name: {"port": port} for name, port in ports.items()}
    manifest["database"]["backups"]["schedule"] = None
    (app_dir / "shipyard.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return ports


def signed_in(base: str, token: str) -> httpx.Client:
    client = httpx.Client(base_url=base, trust_env=False, timeout=30)
    form = client.get("/login").text
    found = re.search(r'name="csrf" value="([^"]+)"', form)
    if not found:
        raise BenchError("the login page has no CSRF field")
    done = client.post("/login", data={"csrf": found.group(1), "token": token}, follow_redirects=False)
    if done.status_code != 303:
        raise BenchError(f"login answered {done.status_code}")
    return client


def time_overview(client: httpx.Client, requests: int, envs: int) -> list[float]:
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        page = client.get("/")
        times.append((time.perf_counter() - start) * 1000)
        if page.status_code != 200 or page.text.count('class="card env"') != envs:
            raise BenchError(f"the overview answered {page.status_code} without every environment")
    return times


def time_status(cp: ControlPlane, requests: int) -> list[float]:
    """``GET /api/status`` alone: the part of the overview that is the API's own status read."""
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        cp.call("GET", "/api/status")
        times.append((time.perf_counter() - start) * 1000)
    return times


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def screenshots(cp: ControlPlane, base: str, token: str, ports: dict[str, int], out: Path) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as play:
        browser = play.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_context(viewport={"width": 1100, "height": 760}).new_page()
        page.goto(base + "/login")
        page.get_by_label("API token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_selector("section.env")
        page.screenshot(path=str(out / "dashboard-overview.png"))
        log(f"saved {out / 'dashboard-overview.png'}")
        dep_id = start_canary(cp, ports["env00"])
        page.goto(f"{base}/deployments/{dep_id}")
        page.wait_for_timeout(8000)  # the charts fill from the stream
        clip = {"x": 0, "y": 0, "width": 1100, "height": 1150}  # the charts and the steps
        page.screenshot(path=str(out / "dashboard-canary.png"), full_page=True, clip=clip)
        log(f"saved {out / 'dashboard-canary.png'}")
        cp.call("POST", "/api/rollouts/env00/abort")
        browser.close()


def start_canary(cp: ControlPlane, port: int) -> int:
    """env00 deploys v2 as a canary, paused at 25%, while a client keeps sending it requests."""
    manifest = yaml.safe_load((cp.app_dir / "shipyard.yaml").read_text())
    manifest["strategy"] = {"canary": CANARY}
    (cp.app_dir / "shipyard.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    zd.use_version(cp.app_dir, "v2")
    stop = threading.Event()
    threading.Thread(target=load, args=(port, stop), daemon=True).start()
    time.sleep(5)  # the canary's check wants traffic seen in the last minute
    dep_id = int(cp.call("POST", "/api/deploy", {"env": "env00"})["deployment"])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            rollout = cp.call("GET", "/api/rollouts/env00")["rollout"]
        except BenchError:  # 404 until the new release is built and its canary starts
            continue
        if rollout.get("weight") == 25 and rollout.get("paused_by"):
            break
    else:
        raise BenchError("the canary never paused at 25%")
    threading.Timer(60, stop.set).start()
    return dep_id


def load(port: int, stop: threading.Event) -> None:
    with httpx.Client(trust_env=False, timeout=5) as client:
        while not stop.is_set():
            try:
                client.get(f"http://127.0.0.1:{port}/")
            except httpx.HTTPError:
                time.sleep(0.01)


def run(args: argparse.Namespace) -> dict[str, Any]:
    with zd.workspace(keep=False) as root:
        ports = prepare(root / "app", args.envs, args.health_interval)
        cp = ControlPlane(root / "home", root / "app", Path(args.cache_dir))
        api_port = zd.free_port()
        cp.up(api_port)
        try:
            for i, env in enumerate(ports):  # the first builds r1, the others deploy it
                dep = cp.call("POST", "/api/deploy", {"env": env, "release": "r1" if i else None})
                if cp.wait_deployment(int(dep["deployment"]))["status"] != "succeeded":
                    raise BenchError(f"the deployment of {env} failed")
            log(f"{len(ports)} environments serving")
            base, token = f"http://127.0.0.1:{api_port}", (cp.home / "token").read_text().strip()
            client = signed_in(base, token)
            try:
                time_overview(client, 5, len(ports))  # warm: templates compiled, tokens remembered
                times = time_overview(client, args.requests, len(ports))
            finally:
                client.close()
            status = time_status(cp, args.requests)
            load_1m = os.getloadavg()[0]
            log(f"overview: p50 {statistics.median(times):.1f} ms, p95 {percentile(times, 0.95):.1f} ms")
            if args.screenshots:
                screenshots(cp, base, token, ports, Path(args.screenshots))
        finally:
            cp.down()
    p50, p95 = statistics.median(times), percentile(times, 0.95)
    return {
        "environments": args.envs,
        "requests": args.requests,
        "overview_ms_p50": round(p50, 1),
        "overview_ms_p95": round(p95, 1),
        "overview_goal_ms": GOAL_MS,
        "status_api_ms_p50": round(statistics.median(status), 1),
        "status_api_ms_p95": round(percentile(status, 0.95), 1),
        "health_interval": args.health_interval,
        "load_avg_1m": round(load_1m, 1),
        "ok": p95 < GOAL_MS,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--health-interval", default="2s", help="health.interval (250ms: 80 probes a second)")
    parser.add_argument("--screenshots", default="", help="save the overview and a canary's page here")
    parser.add_argument("--cache-dir", default=str(zd.DEFAULT_CACHE))
    args = parser.parse_args()
    try:
        figures = run(args)
    except BenchError as exc:
        log(f"error: {exc}")
        print(json.dumps({"ok": False, "error": str(exc)}))
        return 1
    print(json.dumps(figures))
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
