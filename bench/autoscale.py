"""Autoscaling benchmark: CPU load steps through HAProxy, end to end, on real processes.

Starts a private Shipyard (control plane, HAProxy, ``examples/notes`` v1) in a temporary
folder with ``autoscale: {min: 1, max: --max, interval: --interval, targets: {cpu: --cpu}}`` (40 %)
and a down window of ``--down-window``, then with its own bounded client (threads asking
``/work?ms=N``, which burns N ms of CPU per request, to 127.0.0.1 only):

1. ``react_s``: from idle, load one instance cannot carry starts; seconds until a second
   instance is running and UP in HAProxy (it takes requests from that moment: roundrobin);
2. ``scale_in_s``: the load stops; seconds until the desired count is back at ``min``, and
   ``scale_in_after_last_high_s`` from the last recommendation above min to that decision (goal:
   no earlier than the down window, within window + 2 intervals); then one instance is left;
3. with ``--flap``: the load oscillates with a 60 s period (30 s on, 30 s off) for
   ``--flap-minutes``, ``flaps`` counts the direction changes of the desired count over it
   (goal <= 2); then the count must still follow a sustained change (``follows``): back to min
   once the load stops for good (``follows_down_s``), up again when it comes back (``follows_up_s``);
4. ``failed``: requests that did not answer 200 through the whole run.

Progress goes to stderr; the last stdout line is one JSON object. Exit 1 when the scenario went
wrong (a deploy failed, a count never came), 0 otherwise (figures are results, not errors).

    .venv/bin/python bench/autoscale.py
    .venv/bin/python bench/autoscale.py --flap   # adds the 10-minute oscillation
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench folder is not a package
import zero_downtime as zd
from zero_downtime import ENV, HOST, BenchError, log

LOAD_BOUND_S = 1200.0  # no client runs longer than this, whatever happens


class CpuLoad:
    """``threads`` clients asking ``/work?ms=N`` back to back while ``on`` is set (bounded)."""

    def __init__(self, port: int, threads: int, ms: int) -> None:
        self.url = f"http://{HOST}:{port}/work?ms={ms}"
        self.ok = 0
        self.failed: list[str] = []
        self.on = threading.Event()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def close(self) -> None:
        self._stop.set()
        self.on.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def _run(self) -> None:
        deadline = time.monotonic() + LOAD_BOUND_S
        with httpx.Client(trust_env=False, timeout=15) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                if not self.on.wait(0.2):
                    continue
                if self._stop.is_set():
                    return
                try:
                    resp = client.get(self.url)
                    if resp.status_code == 200:
                        self.ok += 1
                    else:
                        self.failed.append(str(resp.status_code))
                except httpx.HTTPError as exc:
                    self.failed.append(type(exc).__name__)


def prepare_app(app_dir: Path, port: int, args: argparse.Namespace) -> None:
    zd.prepare_app(app_dir, port, 1)
    manifest = yaml.safe_load((app_dir / "shipyard.yaml").read_text())
    manifest["processes"]["web"].pop("instances", None)
    manifest["environments"][ENV]["autoscale"] = {
        "min": 1,
        "max": args.max,
        "interval": f"{args.interval:g}s",
        "targets": {"cpu": args.cpu},
        "down": {"window": f"{args.down_window:g}s"},  # HPA's default rate: -100 % per 15 s
    }
    manifest["strategy"]["blue_green"]["stop_timeout"] = "5s"
    (app_dir / "shipyard.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))


def serving(cp: zd.ControlPlane) -> int:
    return sum(1 for i in cp.status()["instances"] if i["state"] == "running" and i["proxy_status"] == "UP")


def wait(what: str, predicate: Any, timeout: float, every: float = 0.1) -> float:
    """Seconds until ``predicate()`` holds."""
    began = time.monotonic()
    while not predicate():
        if time.monotonic() - began > timeout:
            raise BenchError(f"{what} did not happen within {timeout:g}s")
        time.sleep(every)
    return time.monotonic() - began


def desired(cp: zd.ControlPlane) -> int:
    return int(cp.call("GET", f"/api/scale/{ENV}")["desired"])


def direction_changes(counts: list[int]) -> tuple[int, int]:
    """(moves, direction changes) of a sequence of desired counts."""
    moves = [b - a for a, b in itertools.pairwise(counts) if b != a]
    flips = sum(1 for a, b in itertools.pairwise(moves) if (a > 0) != (b > 0))
    return len(moves), flips


def after_last_high(cp: zd.ControlPlane) -> float | None:
    """Seconds from the last recommendation above min to the decision that went back to min:
    what the down window bounds (the load's last interval still reads as load)."""
    rows = cp.call("GET", f"/api/scale/{ENV}/history", limit=10000)
    back = next((r for r in reversed(rows) if r["desired"] == 1 and r["current"] > 1), None)
    if back is None:
        return None
    high = [r["at"] for r in rows if r["recommendation"] > 1 and r["at"] < back["at"]]
    return round(back["at"] - high[-1], 2) if high else None


def flap_run(cp: zd.ControlPlane, load: CpuLoad, args: argparse.Namespace, figures: dict[str, Any]) -> None:
    log(f"oscillating load, 60 s period, for {args.flap_minutes:g} minutes")
    began = time.time()
    end = time.monotonic() + args.flap_minutes * 60
    while time.monotonic() < end:
        load.on.set()
        time.sleep(30)
        load.on.clear()
        time.sleep(30)
    rows = cp.call("GET", f"/api/scale/{ENV}/history", limit=10000)
    counts = [r["desired"] for r in rows if r["at"] >= began]
    figures["flap_moves"], figures["flaps"] = direction_changes(counts)
    figures["flap_counts"] = sorted(set(counts))
    load.on.clear()
    log("a sustained change: the load stops, then comes back for good")
    try:
        figures["follows_down_s"] = round(
            wait("the count at min after the load", lambda: desired(cp) == 1, args.down_window + 60, 0.5), 1
        )
        load.on.set()
        figures["follows_up_s"] = round(
            wait("a higher count under load", lambda: desired(cp) > 1, 120, 0.5), 1
        )
        figures["follows"] = True
    except BenchError as exc:
        log(str(exc))
        figures["follows"] = False
    load.on.clear()


def run(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "interval_s": args.interval,
        "down_window_s": args.down_window,
        "max": args.max,
    }
    with zd.workspace(args.keep) as root:
        cp = zd.ControlPlane(root / "home", root / "app", Path(args.cache_dir))
        port, api_port = zd.free_port(), zd.free_port()
        prepare_app(root / "app", port, args)
        cp.up(api_port)
        load = CpuLoad(port, args.threads, args.ms)
        try:
            dep = cp.wait_deployment(int(cp.call("POST", "/api/deploy", {"env": ENV})["deployment"]))
            if dep["status"] != "succeeded":
                raise BenchError(f"deploy {dep['status']}: {dep['error']}")
            wait("one instance serving", lambda: serving(cp) == 1, 30)
            time.sleep(2 * args.interval)  # idle samples first
            log("load step: one instance cannot carry it")
            load.on.set()
            figures["react_s"] = round(wait("a second instance serving", lambda: serving(cp) >= 2, 120), 2)
            log(f"second instance serving after {figures['react_s']}s")
            time.sleep(max(20.0, 3 * args.interval))
            figures["peak_count"] = desired(cp)
            load.on.clear()
            figures["scale_in_s"] = round(
                wait("desired back at min", lambda: desired(cp) == 1, args.down_window + 120, 0.5), 2
            )
            figures["scale_in_goal_s"] = [args.down_window, args.down_window + 2 * args.interval]
            figures["scale_in_after_last_high_s"] = after_last_high(cp)
            wait("one instance left", lambda: len(cp.status()["instances"]) == 1, 60)
            if args.flap:
                flap_run(cp, load, args, figures)
        finally:
            load.close()
            figures["requests"] = load.ok + len(load.failed)
            figures["failed"] = len(load.failed)
            figures["failures"] = sorted(set(load.failed))[:5]
            cp.down()
    return figures


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--interval", type=float, default=5.0, help="autoscale.interval, seconds")
    parser.add_argument("--down-window", type=float, default=60.0, help="autoscale.down.window, seconds")
    parser.add_argument("--cpu", type=float, default=40.0, help="the CPU target, %% of one core")
    parser.add_argument("--max", type=int, default=3)
    parser.add_argument("--threads", type=int, default=6, help="load clients")
    parser.add_argument("--ms", type=int, default=10, help="CPU milliseconds per request")
    parser.add_argument("--flap", action="store_true", help="add the oscillating run (about 12 minutes)")
    parser.add_argument("--flap-minutes", type=float, default=10.0)
    parser.add_argument("--cache-dir", default=str(zd.DEFAULT_CACHE))
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if args.max < 2:
        parser.error("--max must be at least 2")
    return args


def main() -> int:
    args = parse_args()
    try:
        figures = run(args)
    except BenchError as exc:
        log(f"failed: {exc}")
        print(json.dumps({"error": str(exc)}))
        return 1
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
