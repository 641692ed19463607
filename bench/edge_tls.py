"""Edge TLS benchmark: what HTTPS costs at the edge, and whether a certificate swap fails a request.

Starts HAProxy through Shipyard's driver (``drivers/proxy/haproxy.py``) in a temporary folder,
with one environment listening for HTTP and HTTPS (``edge.tls``, a certificate of a CA made here),
in front of an upstream that answers at once (a second, bare HAProxy returning 200), so the edge
is what is measured; then, with wrk:

- ``https_http_ratio``: HTTPS requests per second over HTTP requests per second, keep-alive, at
  ``--connections`` (200) connections (goal: at least 0.8);
- ``tls_handshakes_per_s``: HTTPS requests per second when every request opens a new connection
  (``Connection: close``), so each is a full TLS handshake;
- ``renew_failed``: failed requests (socket errors and non-2xx answers) while the certificate is
  swapped ``--swaps`` (3) times over HAProxy's runtime API under the same HTTPS load (goal: 0).
  With ``--acme`` each new certificate is an ACME renewal: ordered from Debian's pebble (started
  here, ``tests/integration/pebble_rig.py``) with its HTTP-01 challenge answered by the edge's
  HAProxy (``drivers/certs/acme_client.py``), then swapped in.

Progress goes to stderr; the last line of stdout is one JSON object. Traffic only goes to
127.0.0.1; each wrk run is bounded in time. Everything started is stopped and removed at the end.

    .venv/bin/python bench/edge_tls.py
    .venv/bin/python bench/edge_tls.py --duration 20 --connections 200
    .venv/bin/python bench/edge_tls.py --acme
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench folder is not a package
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the test CA: tests/unit/ca.py
from tests.integration.pebble_rig import Pebble
from tests.unit.ca import CA

from shipyard.core.edge import EdgeRules
from shipyard.core.proxy_layout import Backend, ProxyLayout
from shipyard.core.proxy_layout import Server as Slot
from shipyard.core.tls import Pem, Tls
from shipyard.drivers.certs import acme_client
from shipyard.drivers.proxy.haproxy import HAProxy, find_haproxy
from zero_downtime import HOST, BenchError, HeldLoad, WrkResult, free_port, log, parse_wrk, run_wrk, wrk_argv

GOAL_RATIO = 0.8
UPSTREAM = """global
    maxconn 4000
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend upstream
    bind {bind}
    http-request return status 200 content-type text/plain string "ok"
"""


def upstream(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A bare HAProxy that answers 200 at once: the app, so that the edge is what is measured."""
    port = free_port()
    config = folder / "upstream.cfg"
    config.write_text(UPSTREAM.format(bind=f"{HOST}:{port}"))
    proc = subprocess.Popen([find_haproxy(), "-db", "-f", str(config)], stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    if proc.poll() is not None:
        raise BenchError("the upstream HAProxy did not start")
    return proc, port


def pem(ca: CA) -> Pem:
    issued = ca.issue("bench.test")
    return Pem(issued.cert + issued.key)


def handshakes(url: str, connections: int, seconds: float) -> WrkResult:
    argv = wrk_argv(url, connections, seconds, None)
    argv[-1:-1] = ["-H", "Connection: close"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)
    if done.returncode != 0:
        raise BenchError(f"wrk exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return parse_wrk(done.stdout)


def ordered(proxy: HAProxy, pebble: Pebble) -> Callable[[], Pem]:
    """Each call an ACME renewal: a new key, an order answered through ``proxy``'s HTTP-01 route."""
    account = acme_client.new_key_pem()
    order = acme_client.AcmeOrder(pebble.directory, str(pebble.bundle), None, ("bench.test",))

    def renew() -> Pem:
        key = acme_client.new_key_pem()
        chain = acme_client.issue(order, account, key, proxy.publish_challenge, proxy.withdraw_challenge)
        return Pem(chain + key)

    return renew


def swaps_under_load(
    proxy: HAProxy, layout: ProxyLayout, url: str, renew: Callable[[], Pem], args: argparse.Namespace
) -> WrkResult:
    load = HeldLoad(url, args.connections, args.duration + 30, None)
    load.start()
    try:
        time.sleep(2)
        for n in range(args.swaps):
            be = replace(layout.backends[0], certificate=renew())
            layout = ProxyLayout((be,))
            proxy.sync(layout)
            log(f"certificate swap {n + 1}/{args.swaps} committed")
            time.sleep(max(1.0, args.duration / (args.swaps + 1)))
    finally:
        result = load.stop()
    return result


def arguments() -> argparse.Namespace:
    """The command line; wrk must be installed."""
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed (apt-get install -y wrk)")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag, kind, default, meaning in (
        ("--duration", float, 15.0, "seconds of load per run"),
        ("--connections", int, 200, "wrk connections"),
        ("--swaps", int, 3, "certificate swaps under load"),
    ):
        parser.add_argument(flag, type=kind, default=default, help=meaning)
    parser.add_argument("--acme", action="store_true", help="each swap an ACME renewal from pebble")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    folder = Path(tempfile.mkdtemp(prefix="shipyard-bench-tls-"))
    app, app_port = upstream(folder)
    proxy = HAProxy(folder, find_haproxy())
    ca = CA()
    http, https = free_port(), free_port()
    pebble = Pebble(folder, http) if args.acme else None
    try:
        servers = (Slot("blue", 0, f"{HOST}:{app_port}"), Slot("green", 0, None))
        rules = EdgeRules(compression=False, tls=Tls(https, acme=args.acme))
        be = Backend("dev", f"{HOST}:{http}", "/", 1000, 1, 3, servers, active="blue", edge=rules)
        layout = ProxyLayout((replace(be, certificate=pem(ca)),))
        proxy.sync(layout)
        plain = run_wrk(f"http://{HOST}:{http}/", args.connections, args.duration)
        log(f"HTTP keep-alive: {plain.rps:.0f} req/s")
        secure = run_wrk(f"https://{HOST}:{https}/", args.connections, args.duration)
        log(f"HTTPS keep-alive: {secure.rps:.0f} req/s")
        fresh = handshakes(f"https://{HOST}:{https}/", args.connections, args.duration)
        log(f"HTTPS, a handshake per request: {fresh.rps:.0f} req/s")
        renew = ordered(proxy, pebble) if pebble else lambda: pem(ca)
        held = swaps_under_load(proxy, layout, f"https://{HOST}:{https}/", renew, args)
    finally:
        if pebble is not None:
            pebble.close()
        proxy.stop()
        app.terminate()
        app.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
    failed = held.socket_error_total + held.non_2xx
    log(f"{args.swaps} swaps under load: {held.requests} requests, {failed} failed")
    print(json.dumps(report(args, plain, secure, fresh, held, failed)))


def report(
    args: argparse.Namespace,
    plain: WrkResult,
    secure: WrkResult,
    fresh: WrkResult,
    held: WrkResult,
    failed: int,
) -> dict[str, Any]:
    return {
        "https_http_ratio": round(secure.rps / plain.rps, 3) if plain.rps else None,
        "https_http_goal": GOAL_RATIO,
        "http_rps": round(plain.rps),
        "https_rps": round(secure.rps),
        "tls_handshakes_per_s": round(fresh.rps),
        "handshake_failures": fresh.socket_error_total + fresh.non_2xx,
        "renew_failed": failed,
        "renew_requests": held.requests,
        "renew_swaps": args.swaps,
        "renew_by": "acme (pebble)" if args.acme else "file",
        "connections": args.connections,
        "duration_s": args.duration,
    }


if __name__ == "__main__":
    main()
