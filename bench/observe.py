"""Observability benchmark: log ingest and log search, end to end on a private Shipyard.

Starts a private Shipyard (control plane, HAProxy) in a temporary folder with a small
"chatty" app of its own (``CHATTY_APP`` below: the standard library only; ``GET /burst``
makes an instance write N log lines as fast as it can, a mix of plain lines, JSON lines
on stdout and JSON warnings on stderr, every line with a unique request id and six
words from a vocabulary of about 8,000), deploys it with two instances, then runs each
measurement of ``MEASUREMENTS`` in turn on that running Shipyard:

1. ``log_ingest``: both instances write ``--lines``/2 lines each at once (1,000,000 in all
   by default); the figure is the lines stored per second, from the burst's start until
   every line is stored (the newest line's id, read every 0.25 s): the rate the
   store sustains while a backlog of running instances' output waits;
2. ``log_query``: ``--queries`` text searches through the API (``GET /api/logs/dev``,
   the newest 200 matches, as ``shipyard logs dev --grep``) over those lines: a common
   word, a request id (one line), two words, a word with ``--level warn``, a word with
   ``--since 10m``; the figure is the 95th percentile of the answer time seen by the client.
   Searches without text (the newest lines, ``--level warn``, ``--since 1m``, ``--release``)
   are timed too, as ``log_filter_p95_ms``.

More measurements plug into ``MEASUREMENTS``: each takes the running ``Bench`` and returns
its figures and goals. Then, on a second private Shipyard of its own, ``bench/alerts.py``
measures ``mttd_s`` (an app that starts failing 20% of its requests, to the alert at a local
webhook, default rules, 10 s rule interval) and ``metrics_overhead_cpu_pct`` (the control
plane's CPU while it watches 10 instances); its figures join this one's (``--skip-alerts``
leaves it out).

Progress goes to stderr; the last line of stdout is one JSON object with the figures. The
exit code is 1 when the scenario went wrong (a deploy failed, lines never arrived, a process
was left behind); the figures against their goals are in ``goals``. All traffic goes to
127.0.0.1; every wait is bounded.

    .venv/bin/python bench/observe.py
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench folder is not a package
import alerts as alerts_bench
import zero_downtime as zd
from zero_downtime import ENV, HOST, BenchError, log

INGEST_TIMEOUT_S = 600.0
SYLLABLES = "ka lo mi re tu sa no bi de fo gu ha je ki lu ma ne po qu ri"  # as in CHATTY_APP
DEPLOY_TIMEOUT_S = 180.0

CHATTY_APP = r'''
"""A web app that logs a lot when asked (bench/observe.py): GET /burst?n=N&seed=S."""
import json, os, random, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

SYLLABLES = "ka lo mi re tu sa no bi de fo gu ha je ki lu ma ne po qu ri".split()

def word(rnd):
    return "".join(rnd.choice(SYLLABLES) for _ in range(3))

def burst(n, seed):
    rnd = random.Random(seed)
    out, err = sys.stdout, sys.stderr
    for i in range(n):
        rid = f"req{seed:x}x{i:x}"
        words = " ".join(word(rnd) for _ in range(6))
        if i % 10 == 0:
            err.write(json.dumps({"event": f"slow {words}", "level": "warning", "request_id": rid}) + "\n")
        elif i % 3 == 0:
            line = {"msg": f"handled {words}", "level": 30, "request_id": rid, "ms": i % 97}
            out.write(json.dumps(line) + "\n")
        else:
            out.write(f"INFO request_id={rid} GET /notes/{i % 1000} 200 {i % 97}ms {words}\n")
    out.flush()
    err.flush()

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/burst":
            q = parse_qs(url.query)
            threading.Thread(target=burst, args=(int(q["n"][0]), int(q["seed"][0]))).start()
            body = b'{"started":true}'
        else:
            body = b'{"app":"chatty"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a health check that hangs up early is not news

Server(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
'''

MANIFEST = {
    "app": "chatty",
    "source": ".",
    "build": {"requirements": None},
    "processes": {"web": {"command": "python app.py", "instances": 2}},
    "health": {"path": "/health", "interval": "250ms", "healthy_threshold": 2, "start_timeout": "20s"},
    "smoke": [{"path": "/", "expect_status": 200, "contains": '"app":"chatty"'}],
    "strategy": {"blue_green": {"drain_timeout": "2s", "stop_timeout": "5s"}},
    "environments": {ENV: {"port": 0}},
}


@dataclass
class Bench:
    """A running private Shipyard with the chatty app deployed, shared by the measurements."""

    cp: zd.ControlPlane
    args: argparse.Namespace
    instance_ports: list[int]
    errors: list[str] = field(default_factory=list)

    def logs_stats(self) -> dict[str, Any]:
        return dict(self.cp.call("GET", "/api/logs"))

    def last_line_id(self) -> int:
        """The id of the newest stored line (ids are consecutive): cheap, unlike a count."""
        return int(self.cp.call("GET", f"/api/logs/{ENV}?limit=1")["cursor"])


# measurements ---------------------------------------------------------------------------------
def measure_log_ingest(bench: Bench) -> dict[str, Any]:
    per_instance = bench.args.lines // len(bench.instance_ports)
    expected = per_instance * len(bench.instance_ports)
    before = bench.last_line_id()
    log(f"log ingest: {len(bench.instance_ports)} instances write {expected:,} lines")
    started = time.monotonic()
    with httpx.Client(trust_env=False, timeout=10) as http:
        for seed, port in enumerate(bench.instance_ports, start=1):
            http.get(f"http://{HOST}:{port}/burst", params={"n": per_instance, "seed": seed})
    trace: list[tuple[float, int]] = []
    stored = 0
    while time.monotonic() - started < INGEST_TIMEOUT_S:
        stored = bench.last_line_id() - before
        trace.append((time.monotonic() - started, stored))
        if stored >= expected:
            break
        time.sleep(0.25)
    took = time.monotonic() - started
    if stored < expected:
        bench.errors.append(f"only {stored:,} of {expected:,} lines were stored in {took:.0f}s")
    rate = stored / took if took else 0.0
    stats = bench.logs_stats()
    log(f"log ingest: {stored:,} lines in {took:.1f}s = {rate:,.0f} lines/s")
    return {
        "log_ingest_lines_s": round(rate),
        "log_ingest_lines": stored,
        "log_ingest_s": round(took, 2),
        "log_ingest_best_5s_lines_s": round(_best_window(trace, 5.0)),
        "log_store_lines": stats["lines"],
        "log_store_bytes_per_line": round(stats["bytes"] / max(1, stats["lines"]), 1),
        "goals": {"log_ingest_at_least_20000_lines_s": rate >= 20_000},
    }


def _best_window(trace: list[tuple[float, int]], seconds: float) -> float:
    best = 0.0
    for i, (t0, n0) in enumerate(trace):
        for t1, n1 in trace[i + 1 :]:
            if t1 - t0 >= seconds:
                best = max(best, (n1 - n0) / (t1 - t0))
                break
    return best


def _vocabulary(seed: int, count: int) -> list[str]:
    """Words the chatty app wrote (the same generator and seed)."""
    syllables = SYLLABLES.split()
    rnd = random.Random(seed)
    return ["".join(rnd.choice(syllables) for _ in range(3)) for _ in range(count)]


def measure_log_query(bench: Bench) -> dict[str, Any]:
    stored = bench.logs_stats()["lines"]
    words = _vocabulary(1, 3000)
    rnd = random.Random(7)
    per_instance = bench.args.lines // len(bench.instance_ports)
    text_kinds: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("word", lambda: {"grep": rnd.choice(words)}),
        ("request_id", lambda: {"grep": f"req1x{rnd.randrange(per_instance):x}"}),
        ("two_words", lambda: {"grep": f"{rnd.choice(words)} {rnd.choice(words)}"}),
        ("word_warn", lambda: {"grep": rnd.choice(words), "level": "warn"}),
        ("word_since", lambda: {"grep": rnd.choice(words), "since": "10m"}),
    ]
    filter_kinds: list[tuple[str, Callable[[], dict[str, Any]]]] = [  # no text: `shipyard logs dev`
        ("latest", lambda: {}),
        ("level_warn", lambda: {"level": "warn"}),
        ("since_1m", lambda: {"since": "1m"}),
        ("release", lambda: {"release": "r1"}),
    ]
    kinds = text_kinds + filter_kinds
    timings: dict[str, list[float]] = {name: [] for name, _ in kinds}
    found: dict[str, int] = {name: 0 for name, _ in kinds}
    log(f"log query: {bench.args.queries} searches over {stored:,} stored lines")
    assert bench.cp.http is not None
    for i in range(bench.args.queries):
        name, params = kinds[i % len(kinds)]
        began = time.perf_counter()
        resp = bench.cp.http.get(f"/api/logs/{ENV}", params={**params(), "limit": 200})
        timings[name].append((time.perf_counter() - began) * 1000)
        if resp.status_code != 200:
            bench.errors.append(f"search {params} answered {resp.status_code}: {resp.text[:200]}")
            break
        found[name] += len(resp.json()["lines"])
    text = {name for name, _ in text_kinds}
    others = sorted(t for name, ts in timings.items() if name not in text for t in ts)
    every = sorted(t for name, ts in timings.items() if name in text for t in ts)
    p95 = _percentile(every, 0.95)
    log(f"log query: p50 {_percentile(every, 0.5):.1f} ms, p95 {p95:.1f} ms")
    return {
        "log_query_p95_ms": round(p95, 1),
        "log_query_p50_ms": round(_percentile(every, 0.5), 1),
        "log_query_max_ms": round(every[-1], 1) if every else None,
        "log_query_stored_lines": stored,
        "log_filter_p95_ms": round(_percentile(others, 0.95), 1),
        "log_query_p95_ms_by_kind": {k: round(_percentile(sorted(v), 0.95), 1) for k, v in timings.items()},
        "log_query_mean_hits_by_kind": {k: round(found[k] / max(1, len(timings[k])), 1) for k in timings},
        "goals": {"log_query_p95_under_200ms": bool(every) and p95 < 200},
    }


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


MEASUREMENTS: list[tuple[str, Callable[[Bench], dict[str, Any]]]] = [
    ("log_ingest", measure_log_ingest),
    ("log_query", measure_log_query),
]


# putting it together --------------------------------------------------------------------------
def prepare_app(app_dir: Path, proxy_port: int) -> None:
    app_dir.mkdir(parents=True)
    manifest = json.loads(json.dumps(MANIFEST))
    manifest["environments"][ENV]["port"] = proxy_port
    (app_dir / "shipyard.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    (app_dir / "app.py").write_text(CHATTY_APP.lstrip())


def start(cp: zd.ControlPlane, args: argparse.Namespace) -> list[int]:
    """``shipyard up``, deploy the chatty app, and the ports of its instances."""
    api_port = zd.free_port()
    log(f"shipyard up (API port {api_port}, proxy port {args.proxy_port})")
    cp.up(api_port)
    dep = cp.call("POST", "/api/deploy", {"env": ENV})["deployment"]
    got = cp.wait_deployment(int(dep), DEPLOY_TIMEOUT_S)
    if got["status"] != "succeeded":
        raise BenchError(f"deploying the chatty app {got['status']}: {got['error']}")
    return [int(i["port"]) for i in cp.status()["instances"]]


def run(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"scenario": "observability: log ingest and search"}
    out["loadavg_1m_before"] = round(os.getloadavg()[0], 2)
    record = zd.Figures()
    goals: dict[str, bool] = {}
    chosen = [m for m in MEASUREMENTS if not args.only or m[0] in args.only]
    with zd.workspace(args.keep) as root:
        app_dir, home = root / "app", root / "home"
        args.proxy_port = args.proxy_port or zd.free_port()
        prepare_app(app_dir, args.proxy_port)
        cp = zd.ControlPlane(home, app_dir, args.cache_dir)
        try:
            bench = Bench(cp, args, start(cp, args))
            for name, measure in chosen:
                figures = measure(bench)
                goals.update(figures.pop("goals", {}))
                out.update(figures)
                log(f"{name}: done")
            record.errors += bench.errors
        except (BenchError, httpx.HTTPError, OSError) as exc:
            record.errors.append(f"{type(exc).__name__}: {exc}")
            log(f"ERROR: {exc}")
        finally:
            zd.shutdown(cp, home, record)
    if not args.skip_alerts:
        log("alerts: mttd_s and metrics_overhead_cpu_pct on a second Shipyard (bench/alerts.py)")
        watched = alerts_bench.run(alerts_bench.parse_args(["--cache-dir", str(args.cache_dir)]))
        for key in ("mttd_s", "mttd_fired_s", "metrics_overhead_cpu_pct", "instances"):
            if key in watched:
                out[key] = watched[key]
        goals.update(watched["goals"])
        record.errors += [f"alerts: {e}" for e in watched["errors"]]
    out["goals"] = goals
    out["errors"] = record.errors
    out["ok"] = not record.errors
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lines", type=int, default=1_000_000, help="log lines the instances write in all")
    p.add_argument("--queries", type=int, default=500, help="text searches timed")
    p.add_argument("--only", nargs="*", default=[], help="run only these measurements (by name)")
    p.add_argument("--proxy-port", type=int, default=0, help="public port of the app (default: a free one)")
    p.add_argument("--cache-dir", type=Path, default=zd.DEFAULT_CACHE, help="SHIPYARD_CACHE_DIR")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (debugging)")
    p.add_argument("--skip-alerts", action="store_true", help="leave out bench/alerts.py's figures")
    return p.parse_args(argv)


def main() -> int:
    result = run(parse_args())
    log(f"goals: {result['goals']}")
    print(json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
