"""Edge benchmark: how closely HAProxy's rate limit lets through the configured rate.

Starts HAProxy through Shipyard's driver (``drivers/proxy/haproxy.py``) in a temporary folder,
with one environment whose ``edge.rate_limit`` is the case's, in front of a small HTTP server of
this script; then, for each case, wrk sends as fast as it can from one client address for
``--duration`` seconds. The allowed rate is the requests that were not answered 429, per second;
``rate_limit_error_pct`` is the largest distance, over the cases, between the allowed rate and the
configured one, in percent of the configured one (goal: within 10 %). HAProxy, the server and the
folder are removed at the end.

Progress goes to stderr; the last line of stdout is one JSON object. Traffic only goes to
127.0.0.1; each wrk run is bounded in time.

    .venv/bin/python bench/edge.py
    .venv/bin/python bench/edge.py --duration 60 --connections 50
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench folder is not a package
from shipyard.core.edge import EdgeRules, RateLimit
from shipyard.core.proxy_layout import Backend, ProxyLayout
from shipyard.core.proxy_layout import Server as Slot
from shipyard.drivers.proxy.haproxy import HAProxy, find_haproxy
from zero_downtime import HOST, BenchError, free_port, log, run_wrk

GOAL_PCT = 10.0
# (requests, per seconds, prefix requested): on every path, and under a path prefix
CASES: tuple[tuple[int, float, str | None], ...] = ((100, 10.0, None), (200, 1.0, None), (50, 1.0, "/api"))


class Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_: object) -> None:
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """HAProxy's connections reset as each case stops it: not worth a traceback."""


def measure(
    folder: Path, app_port: int, case: tuple[int, float, str | None], args: argparse.Namespace
) -> dict[str, Any]:
    requests, per, prefix = case
    port = free_port()
    rules = EdgeRules(rate_limits=(RateLimit(requests, per, prefix),))
    servers = (Slot("blue", 0, f"{HOST}:{app_port}"), Slot("green", 0, None))
    backend = Backend("dev", f"{HOST}:{port}", "/", 1000, 1, 3, servers, active="blue", edge=rules)
    proxy = HAProxy(folder / f"haproxy-{port}", find_haproxy())
    proxy.folder.mkdir()
    try:
        proxy.sync(ProxyLayout((backend,)))
        url = f"http://{HOST}:{port}{prefix or ''}/x"
        result = run_wrk(url, args.connections, args.duration)
    finally:
        proxy.stop()
    allowed = result.requests - result.non_2xx
    configured = requests / per
    measured = allowed / result.seconds
    error = 100.0 * (measured - configured) / configured
    log(f"{requests} per {per:g}s on {prefix or 'every path'}: {measured:.1f}/s allowed, {error:+.2f} %")
    return {
        "requests": requests,
        "per_s": per,
        "prefix": prefix,
        "configured_rps": round(configured, 2),
        "allowed_rps": round(measured, 2),
        "sent": result.requests,
        "refused_429": result.non_2xx,
        "error_pct": round(error, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load per case")
    parser.add_argument("--connections", type=int, default=20, help="wrk connections (one client address)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed (apt-get install -y wrk)")
    folder = Path(tempfile.mkdtemp(prefix="shipyard-bench-edge-"))
    server = Server((HOST, free_port()), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        cases = [measure(folder, server.server_address[1], case, args) for case in CASES]
    finally:
        server.shutdown()
        shutil.rmtree(folder, ignore_errors=True)
    worst = max(abs(c["error_pct"]) for c in cases)
    print(
        json.dumps(
            {
                "rate_limit_error_pct": worst,
                "rate_limit_goal_pct": GOAL_PCT,
                "duration_s": args.duration,
                "connections": args.connections,
                "cases": cases,
            }
        )
    )


if __name__ == "__main__":
    main()
