"""Alerting benchmark: time to detect a failing release, and the control plane's cost of watching.

Starts a private Shipyard (control plane, HAProxy, ``examples/notes/flaky`` with ``--instances``
instances, 10 by default) in a temporary folder, with the default alert rules, the default
10 s rule interval and a generic webhook receiver inside this script, then:

1. deploys the flaky app (it answers like v2 until the marker file ``<home>/envs/dev/data/fail``
   exists) and holds a steady, bounded HTTP load through the proxy (``--rps``);
2. after a warm-up, measures the control plane's CPU (user + system time of its process, as a
   percentage of one core) over ``--overhead-window`` seconds while it evaluates the rules and
   collects the figures of every instance: ``metrics_overhead_cpu_pct``;
3. creates the marker: from that moment every instance fails one request to ``/`` in five.
   ``mttd_s`` is the time from that moment to the first firing alert (Alertmanager webhook JSON)
   arriving at the receiver; ``mttd_fired_s`` the time to the alert's own ``fired_at``;
4. runs ``shipyard down``, checks that no process of this run is left and removes the folder.

Progress goes to stderr; the last line of stdout is one JSON object. Traffic only goes to
127.0.0.1; the load is bounded in time and rate.

    .venv/bin/python bench/alerts.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench folder is not a package
import zero_downtime as zd
from canary import Webhook
from zero_downtime import ENV, HOST, BenchError, log

MTTD_GOAL_S = 30.0
LOAD_BOUND_S = 600.0
DETECT_TIMEOUT_S = 180.0


class SteadyLoad:
    """GET / through the proxy at about ``rps`` requests per second, in a thread, bounded."""

    def __init__(self, url: str, rps: float) -> None:
        self.url = url
        self.rps = rps
        self.statuses: dict[int, int] = {}
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        deadline = time.monotonic() + LOAD_BOUND_S
        period = 1.0 / self.rps
        next_at = time.monotonic()
        with httpx.Client(trust_env=False, timeout=5) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    status = client.get(self.url).status_code
                    self.statuses[status] = self.statuses.get(status, 0) + 1
                except httpx.HTTPError:
                    self.errors += 1
                next_at += period
                self._stop.wait(max(0.0, next_at - time.monotonic()))


def prepare_app(app_dir: Path, proxy_port: int, instances: int, webhook: str) -> None:
    app_dir.mkdir(parents=True)
    manifest = yaml.safe_load((zd.EXAMPLE / "shipyard.yaml").read_text())
    manifest["environments"][ENV]["port"] = proxy_port
    manifest["processes"]["web"]["instances"] = instances
    manifest["notifications"] = {"receivers": {"bench": {"webhook": {"url": webhook}}}}
    # alerts: the defaults (default rules, a 10 s interval), written out for the record
    manifest["alerts"] = {"interval": "10s", "default_rules": True}
    (app_dir / "shipyard.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    # flaky is v2's app plus the failure switch: it runs on v2's schema, made by v2's migrate.py
    (app_dir / "migrate.py").write_bytes((zd.EXAMPLE / "v2" / "migrate.py").read_bytes())
    for path in (zd.EXAMPLE / "flaky").iterdir():
        (app_dir / path.name).write_bytes(path.read_bytes())


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def measure_overhead(cp: zd.ControlPlane, seconds: float) -> dict[str, Any]:
    assert cp.pid is not None
    start_cpu, start = cpu_seconds(cp.pid), time.monotonic()
    time.sleep(seconds)
    used, wall = cpu_seconds(cp.pid) - start_cpu, time.monotonic() - start
    alerts = cp.call("GET", "/api/alerts")
    return {
        "metrics_overhead_cpu_pct": round(100 * used / wall, 2),
        "overhead_window_s": round(wall, 1),
        "alerts_before_failure": [a["rule"] for a in alerts["alerts"] if a["state"] != "resolved"],
    }


def first_firing(hook: Webhook, since: float) -> dict[str, Any] | None:
    for got in list(hook.events):
        if got.get("version") == "4" and got.get("status") == "firing" and got["received_at"] >= since:
            return got
    return None


def detect(cp: zd.ControlPlane, hook: Webhook, marker: Path) -> dict[str, Any]:
    started = time.time()
    marker.write_text("")
    log("marker created: every instance now fails one request in five")
    deadline = time.monotonic() + DETECT_TIMEOUT_S
    got = None
    while got is None and time.monotonic() < deadline:
        got = first_firing(hook, started)
        time.sleep(0.05)
    if got is None:
        raise BenchError(f"no firing alert reached the webhook within {DETECT_TIMEOUT_S:g}s")
    alert = got["alerts"][0]
    stored = [a for a in cp.call("GET", "/api/alerts")["alerts"] if a["fingerprint"] == alert["fingerprint"]]
    fired = stored[0]["fired_at"] if stored else None
    log(f"{alert['labels']['alertname']} arrived after {got['received_at'] - started:.1f}s")
    return {
        "mttd_s": round(got["received_at"] - started, 2),
        "mttd_fired_s": round(fired - started, 2) if fired else None,
        "first_alert": alert["labels"]["alertname"],
        "first_alert_summary": alert["annotations"].get("summary"),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    record = zd.Figures()  # zero_downtime's: only its ``errors`` list is used here
    out: dict[str, Any] = {"scenario": "alerts: healthy, then failing 20%", "instances": args.instances}
    out["loadavg_1m_before"] = round(os.getloadavg()[0], 2)
    hook = Webhook()
    with zd.workspace(args.keep) as root:
        app_dir, home = root / "app", root / "home"
        proxy_port = args.proxy_port or zd.free_port()
        prepare_app(app_dir, proxy_port, args.instances, hook.url)
        cp = zd.ControlPlane(home, app_dir, args.cache_dir)
        load = SteadyLoad(f"http://{HOST}:{proxy_port}/", args.rps)
        try:
            api_port = zd.free_port()
            log(f"shipyard up (API port {api_port}, proxy port {proxy_port}) in {root}")
            cp.up(api_port)
            dep = cp.call("POST", "/api/deploy", {"env": ENV})["deployment"]
            done = cp.wait_deployment(int(dep))
            if done["status"] != "succeeded":
                raise BenchError(f"deploy {done['status']}: {done['error']}")
            log(f"{args.instances} instances of flaky serving as {done['release_id']}")
            load.start()
            time.sleep(args.warmup)
            out.update(measure_overhead(cp, args.overhead_window))
            log(f"control plane CPU {out['metrics_overhead_cpu_pct']}% of a core while watching")
            out.update(detect(cp, hook, home / "envs" / ENV / "data" / "fail"))
        except (BenchError, httpx.HTTPError, OSError, psutil.Error) as exc:
            record.errors.append(f"{type(exc).__name__}: {exc}")
            log(f"ERROR: {exc}")
        finally:
            load.stop()
            zd.shutdown(cp, home, record)
            hook.close()
    out["load"] = {"rps": args.rps, "statuses": load.statuses, "client_errors": load.errors}
    out["goals"] = {"mttd_under_30s": out.get("mttd_s") is not None and out["mttd_s"] < MTTD_GOAL_S}
    out["errors"] = record.errors
    out["ok"] = not record.errors
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--instances", type=int, default=10, help="instances of the app")
    p.add_argument("--rps", type=float, default=100, help="steady load, requests per second")
    p.add_argument("--warmup", type=float, default=15, help="seconds of load before measuring")
    p.add_argument("--overhead-window", type=float, default=60, help="seconds of CPU measurement")
    p.add_argument("--proxy-port", type=int, default=0, help="public port of the app (default: a free one)")
    p.add_argument("--cache-dir", type=Path, default=zd.DEFAULT_CACHE, help="SHIPYARD_CACHE_DIR")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (debugging)")
    return p.parse_args(argv)


def main() -> int:
    result = run(parse_args())  # no wrk here: zero_downtime.run_and_report would ask for it
    log(f"goals: {result['goals']}")
    print(json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
