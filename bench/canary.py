"""Canary benchmark: a good and a faulty progressive rollout under HTTP load, end to end.

Starts a private Shipyard (control plane, HAProxy, ``examples/notes``) in a temporary folder,
with the canary strategy (``CANARY`` below) and a webhook to a receiver in this script, then:

1. deploys v1 (the first release of an environment takes all traffic at once);
2. holds wrk load through the proxy (a Lua script counts non-2xx answers per second) and,
   after a few seconds of traffic, deploys v2: the rollout must be promoted to 100 %;
3. holds a new wrk load and deploys ``faulty`` (2.1.0: every fifth ``GET /`` answers 500,
   health and smoke pass): the deploy must end ``rolled_back`` (CLI exit code 1);
4. runs ``shipyard down``, checks that no process of this run is left and removes the folder.

Each rollout has its own wrk, so wrk's socket errors (which carry no time) belong to one
rollout. Requests and 5xx per rollout are HAProxy's ``fe_dev`` counters read just before and
after the ``shipyard deploy`` command; during it, ``show stat`` is read every 50 ms as well.

Progress goes to stderr; the last line of stdout is one JSON object with the figures. The
exit code is 1 when the scenario went wrong (good release not promoted, faulty one not rolled
back, a deploy refused, a process left behind...): failed requests and timings are results,
reported in the JSON (``goals``). Traffic only goes to 127.0.0.1; every wrk is bounded by -d.

    .venv/bin/python bench/canary.py --connections 200
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench folder is not a package
import zero_downtime as zd
from zero_downtime import ENV, HOST, BenchError, log

CANARY = yaml.safe_load("""
steps: [10, 25, 50, 100]
interval: 5s
analysis: {error_rate: {max: 1%}, latency_p99: {max: 2s}, min_requests: 50, failure_limit: 0, no_data: pause}
drain_timeout: 10s
stop_timeout: 5s
""")
DETECT_GOAL_S = 2.0  # an early verdict decides within the first second or two of the faulty version
FAILED_SHARE_GOAL = 0.005
LOAD_BOUND_S = 180  # each held load's wrk -d: a hard bound, it is stopped long before
DEPLOY_TIMEOUT_S = 180.0
TRACE_EVERY_S = 0.05


# the app folder and the webhook receiver ------------------------------------------------------
def prepare_app(app_dir: Path, proxy_port: int, webhook: str) -> None:
    """The example's shipyard.yaml (own port, canary strategy, webhook) and v1's files."""
    app_dir.mkdir(parents=True)
    manifest = yaml.safe_load((zd.EXAMPLE / "shipyard.yaml").read_text())
    manifest["environments"][ENV]["port"] = proxy_port
    manifest["strategy"] = {"canary": CANARY}
    manifest["notifications"] = {"webhook": webhook}
    (app_dir / "shipyard.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    use_version(app_dir, "v1")


def use_version(app_dir: Path, version: str) -> None:
    """Change the code: copy that version's files over the working copy."""
    for path in (zd.EXAMPLE / version).iterdir():
        shutil.copy(path, app_dir / path.name)


class Webhook:
    """A tiny HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        events = self.events

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with suppress(ValueError):
                    events.append({**json.loads(body), "received_at": time.time()})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.url = f"http://{HOST}:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, name="webhook", daemon=True).start()

    def wait_for(self, event: str, deployment: int, timeout: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for got in list(self.events):
                if got.get("event") == event and got.get("deployment") == deployment:
                    return got
            time.sleep(0.1)
        return None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# HAProxy's counters -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ServerRow:
    status: str
    requests: int
    errors: int  # 5xx


@dataclass(frozen=True)
class Snap:
    at: float
    frontend: dict[str, int]  # fe_<env>: req_tot, hrsp_2xx, hrsp_4xx, hrsp_5xx
    servers: dict[str, ServerRow]  # the servers of be_<env>_blue and be_<env>_green
    routes: dict[str, str]  # HAProxy's routing maps: <env>.active, <env>.canary, <env> (weight)

    def share(self, colour: str) -> int:
        """Percent of new requests HAProxy sends to ``colour`` (read from its maps)."""
        weight = int(self.routes.get(ENV, "0"))
        canary = self.routes.get(f"{ENV}.canary") if weight > 0 else None
        if colour == canary:
            return weight
        return 100 - (weight if canary else 0) if colour == self.routes.get(f"{ENV}.active") else 0

    def colour_total(self, colour: str, attr: str) -> int:
        return sum(getattr(r, attr) for n, r in self.servers.items() if n.startswith(f"{colour}-"))


def runtime_api(admin_socket: Path, command: str) -> str:
    """One read-only command on this run's own HAProxy admin socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        sock.connect(str(admin_socket))
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


def dropped_logs(admin_socket: Path) -> int:
    """HAProxy's count of per-request log lines it could not send (the analysis never saw them)."""
    found = re.search(r"^DroppedLogs: (\d+)", runtime_api(admin_socket, "show info"), re.M)
    return int(found.group(1)) if found else -1


def show_map(admin_socket: Path, name: str) -> dict[str, str]:
    """Entries of one of Shipyard's routing maps, next to the admin socket."""
    path = (admin_socket.parent / name).resolve()
    rows = (line.split() for line in runtime_api(admin_socket, f"show map {path}").splitlines())
    return {row[1]: row[2] for row in rows if len(row) == 3}


def show_stat(admin_socket: Path) -> Snap:
    """One read of ``show stat`` and of the routing maps: fe_<env>'s counters, the servers, the split."""
    routes = show_map(admin_socket, "colours.map") | show_map(admin_socket, "weights.map")
    text = runtime_api(admin_socket, "show stat").lstrip("# ").strip()
    frontend: dict[str, int] = {}
    servers: dict[str, ServerRow] = {}
    for row in csv.DictReader(io.StringIO(text)):
        if row["pxname"] == f"fe_{ENV}" and row["svname"] == "FRONTEND":
            keys = ("req_tot", "hrsp_2xx", "hrsp_4xx", "hrsp_5xx")
            frontend = {k: int(row.get(k) or 0) for k in keys}
        elif row["pxname"].startswith(f"be_{ENV}_") and row["svname"] not in ("FRONTEND", "BACKEND"):
            servers[row["svname"]] = ServerRow(
                row.get("status", ""),
                int(row.get("req_tot") or row.get("stot") or 0),
                int(row.get("hrsp_5xx") or 0),
            )
    if not frontend:
        raise BenchError(f"no FRONTEND row for fe_{ENV} in HAProxy's show stat")
    return Snap(time.time(), frontend, servers, routes)


@contextmanager
def stat_trace(admin_socket: Path) -> Iterator[list[Snap]]:
    """Reads ``show stat`` every 50 ms in a thread while the ``with`` block runs."""
    snaps: list[Snap] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(TRACE_EVERY_S):
            with suppress(OSError, ValueError, BenchError):
                snaps.append(show_stat(admin_socket))

    thread = threading.Thread(target=loop, name="stat-trace", daemon=True)
    thread.start()
    try:
        yield snaps
    finally:
        stop.set()
        thread.join(timeout=5)


def canary_shares(snaps: list[Snap], colour: str) -> dict[str, float]:
    """Observed share of requests on ``colour`` at each nominal weight (from HAProxy's maps)."""
    sums: dict[int, list[int]] = {}
    for a, b in itertools.pairwise(snaps):
        share = a.share(colour)
        if share != b.share(colour) or share in (0, 100):
            continue  # a weight change in between, or no split
        acc = sums.setdefault(share, [0, 0])
        acc[0] += b.colour_total(colour, "requests") - a.colour_total(colour, "requests")
        acc[1] += b.frontend["req_tot"] - a.frontend["req_tot"]
    return {f"{w}%": round(c / t, 3) for w, (c, t) in sorted(sums.items()) if t > 0}


def weight_zero_seen(snaps: list[Snap], colour: str) -> float | None:
    """When the trace first saw ``colour`` back at weight 0 after it had some weight."""
    had = False
    for s in snaps:
        weight = s.share(colour)
        had = had or weight > 0
        if had and weight == 0:
            return s.at
    return None


# the control plane ----------------------------------------------------------------------------
class Shipyard(zd.ControlPlane):
    def deploy(self) -> tuple[int, dict[str, Any], str]:
        """``shipyard deploy dev`` (blocks until the deployment ends): exit code, deployment, stderr."""
        argv = [sys.executable, "-m", "shipyard", "--home", str(self.home), "--app-dir", str(self.app_dir)]
        argv += ["deploy", ENV]
        done = subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=DEPLOY_TIMEOUT_S)
        found = re.search(r"deployment (\d+) to ", done.stdout)
        if found is None:
            raise BenchError(f"`shipyard deploy {ENV}` started no deployment: {done.stderr.strip()}")
        return done.returncode, self.deployment(int(found.group(1))), done.stderr.strip()


@dataclass
class Rollout:
    code: int  # of `shipyard deploy`
    dep: dict[str, Any]
    state: dict[str, Any]  # GET /api/rollouts/<env> right after the command
    colour: str  # the new version's colour
    before: Snap
    after: Snap
    trace: list[Snap]
    wrk: zd.WrkResult
    dropped_logs: int  # during the command

    def delta(self, key: str) -> int:
        grew = self.after.frontend[key] - self.before.frontend[key]
        if grew < 0:
            raise BenchError("HAProxy's counters went back (a reload?) during the rollout")
        return grew

    def colour_delta(self, attr: str) -> int:
        """Requests (or 5xx) HAProxy sent to the new colour's servers during the command."""
        return self.after.colour_total(self.colour, attr) - self.before.colour_total(self.colour, attr)

    def figures(self, prefix: str) -> dict[str, Any]:
        errors_5xx = self.delta("hrsp_5xx")
        span = self.dep["finished_at"] - self.dep["started_at"] if self.dep["finished_at"] else None
        lo, hi = self.before.at, self.after.at  # wrk's non-2xx in the seconds the command overlapped:
        wrk_non_2xx = sum(n for second, n in self.wrk.bad_seconds.items() if lo - 1 < second <= hi)
        return {
            f"{prefix}_release": self.dep["release_id"],
            f"{prefix}_status": self.dep["status"],
            f"{prefix}_exit_code": self.code,
            f"{prefix}_rollout_s": round(span, 2) if span is not None else None,
            f"{prefix}_requests": self.delta("req_tot"),
            f"{prefix}_5xx": errors_5xx,
            f"{prefix}_4xx": self.delta("hrsp_4xx"),
            f"{prefix}_failed_requests": errors_5xx + self.wrk.socket_error_total,
            f"{prefix}_canary_share": canary_shares(self.trace, self.colour),
            f"{prefix}_analysis_requests": [c["figures"].get("requests") for c in self.state["checks"]],
            f"{prefix}_dropped_log_lines": self.dropped_logs,
            f"{prefix}_wrk_non_2xx": wrk_non_2xx,
            f"{prefix}_wrk_socket_errors": self.wrk.socket_errors,
            f"{prefix}_wrk": {"requests": self.wrk.requests, "seconds": round(self.wrk.seconds, 1)}
            | {"non_2xx": self.wrk.non_2xx, "statuses": self.wrk.statuses, "latency_ms": self.wrk.latency_ms},
        }


def run_rollout(cp: Shipyard, version: str, args: argparse.Namespace, script: Path) -> Rollout:
    """Held load (its own wrk), a few seconds of traffic, then ``shipyard deploy`` of ``version``."""
    use_version(cp.app_dir, version)
    admin = cp.home / "proxy" / "admin.sock"
    load = zd.HeldLoad(f"http://{HOST}:{args.proxy_port}/", args.connections, LOAD_BOUND_S, script)
    log(f"{version}: held load wrk -c{args.connections}, {args.warmup:g}s before the deploy")
    load.start()
    try:
        time.sleep(args.warmup)
        if not load.running():
            raise BenchError("wrk ended before the deploy")
        with stat_trace(admin) as trace:
            before, dropped = show_stat(admin), dropped_logs(admin)
            code, dep, stderr = cp.deploy()
            after, dropped = show_stat(admin), dropped_logs(admin) - dropped
        state = dict(cp.call("GET", f"/api/rollouts/{ENV}"))
        wrk = load.stop()
    finally:
        load.kill()
    prepare = next((s for s in dep["steps"] if s["name"] == "prepare"), {"detail": ""})
    found = re.search(r"new colour is (\w+)", prepare["detail"] or "")
    if found is None:
        raise BenchError(f"no new colour in deployment {dep['id']}'s prepare step: {dep['steps']}")
    steps = ", ".join(f"{s['name']} {s['seconds'] or 0:.1f}s" for s in dep["steps"])
    took = after.at - before.at
    log(f"{version}: deployment {dep['id']} {dep['status']} (exit {code}) in {took:.1f}s: {steps}")
    if stderr:
        log(f"{version}: shipyard deploy said: {stderr[-400:]}")
    log(f"{version}: wrk {wrk.requests} requests, non-2xx {wrk.non_2xx}, socket errors {wrk.socket_errors}")
    return Rollout(code, dep, state, found.group(1), before, after, trace, wrk, dropped)


# figures ----------------------------------------------------------------------------------------
def good_figures(good: Rollout) -> dict[str, Any]:
    phase = good.state["rollout"]["phase"] if good.state["deployment"]["id"] == good.dep["id"] else None
    promoted = good.code == 0 and good.dep["status"] == "succeeded" and phase == "promoted"
    return {"good_promoted": promoted, "good_phase": phase, **good.figures("good")}


def bad_figures(bad: Rollout) -> dict[str, Any]:
    ours = bad.state["deployment"]["id"] == bad.dep["id"]
    ro: dict[str, Any] = bad.state["rollout"] if ours else {}
    first, decided, zero = ro.get("first_error_at"), ro.get("decided_at"), ro.get("zero_at")
    seen = weight_zero_seen(bad.trace, bad.colour)
    after = {n: r.status for n, r in bad.after.servers.items() if n.startswith(bad.colour)}
    rolled_back = bad.code == 1 and bad.dep["status"] == "rolled_back" and ro.get("phase") == "rolled_back"
    out = {
        "bad_rolled_back": rolled_back,
        "bad_phase": ro.get("phase"),
        "bad_reason": ro.get("reason"),
        "bad_detect_s": round(decided - first, 3) if first and decided else None,
        "bad_rollback_s": round(zero - decided, 4) if zero and decided else None,
        "bad_zero_seen_in_proxy_s": round(seen - decided, 3) if seen and decided else None,
        "bad_canary_out_after": bad.after.share(bad.colour) == 0,
        "bad_canary_servers_after": after,
        **bad.figures("bad"),
    }
    out["bad_failed_share"] = round(out["bad_failed_requests"] / max(out["bad_requests"], 1), 4)
    last = bad.state["checks"][-1]["figures"] if ours and bad.state["checks"] else {}
    out["bad_early_verdict"] = bool(last.get("early"))
    out["bad_evidence"] = [e for e in last.get("evidence", []) if e.get("decisive")]
    out["bad_canary_requests"] = bad.colour_delta("requests")  # what HAProxy sent to the faulty colour
    out["bad_canary_5xx"] = bad.colour_delta("errors")
    exposed = [s.at for s in bad.trace if s.share(bad.colour) > 0]
    out["bad_canary_exposed_s"] = round(exposed[-1] - exposed[0], 2) if exposed else 0.0
    return out


def goals(out: dict[str, Any]) -> dict[str, bool]:
    def below(key: str, limit: float) -> bool:
        return out.get(key) is not None and out[key] < limit

    return {
        "good_promoted": bool(out.get("good_promoted")),
        "good_failed_zero": out.get("good_failed_requests") == 0,
        "bad_rolled_back": bool(out.get("bad_rolled_back")),
        "bad_detect_under_2s": below("bad_detect_s", DETECT_GOAL_S),
        "bad_rollback_under_1s": below("bad_rollback_s", 1),
        "bad_failed_share_under_0.5pct": below("bad_failed_share", FAILED_SHARE_GOAL),
    }


# putting it together ----------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict[str, Any]:
    record = zd.Figures()  # zero_downtime's: only its ``errors`` list is used here
    out: dict[str, Any] = {"scenario": "canary: good, then faulty", "concurrency": args.connections}
    out["loadavg_1m_before"] = round(os.getloadavg()[0], 2)
    hook = Webhook()
    with zd.workspace(args.keep) as root:
        app_dir, home = root / "app", root / "home"
        args.proxy_port = args.proxy_port or zd.free_port()
        prepare_app(app_dir, args.proxy_port, hook.url)
        script = root / "count_non_2xx.lua"
        script.write_text(zd.LUA_COUNT_NON_2XX)
        cp = Shipyard(home, app_dir, args.cache_dir)
        try:
            if not zd.port_free(args.proxy_port):
                raise BenchError(f"port {args.proxy_port} is taken: pass another --proxy-port")
            api_port = zd.free_port()
            log(f"shipyard up (API port {api_port}, proxy port {args.proxy_port}) in {root}")
            cp.up(api_port)
            code, first, stderr = cp.deploy()
            if code != 0 or first["status"] != "succeeded":
                raise BenchError(f"first deploy (v1) {first['status']}: {first['error']} {stderr}")
            log(f"v1 serving as {first['release_id']} ({first['finished_at'] - first['started_at']:.1f}s)")
            good = run_rollout(cp, "v2", args, script)
            out.update(good_figures(good))
            if not out["good_promoted"]:
                record.errors.append(f"the good rollout was not promoted: {good.dep['error']}")
            bad = run_rollout(cp, "faulty", args, script)
            out.update(bad_figures(bad))
            if not out["bad_rolled_back"]:
                record.errors.append(f"the faulty rollout was not rolled back: {bad.dep['status']}")
            got = hook.wait_for("rollout.rolled_back", bad.dep["id"], timeout=10)
            out["webhook_received"] = got is not None
            if got is not None:
                out["webhook_delay_s"] = round(got["received_at"] - bad.dep["finished_at"], 3)
        except (BenchError, httpx.HTTPError, subprocess.SubprocessError, OSError) as exc:
            record.errors.append(f"{type(exc).__name__}: {exc}")
            log(f"ERROR: {exc}")
        finally:
            zd.shutdown(cp, home, record)
            hook.close()
    out.setdefault("webhook_received", False)
    out["webhook_events"] = [(e.get("event"), e.get("deployment")) for e in hook.events]
    out["goals"] = goals(out)
    out["errors"] = record.errors
    out["ok"] = not record.errors
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--connections", type=int, default=200, help="wrk connections")
    p.add_argument("--proxy-port", type=int, default=0, help="public port of the app (default: a free one)")
    p.add_argument("--warmup", type=float, default=2.5, help="seconds of load before each deploy")
    p.add_argument("--cache-dir", type=Path, default=zd.DEFAULT_CACHE, help="SHIPYARD_CACHE_DIR")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (debugging)")
    return p.parse_args(argv)


def main() -> int:
    return zd.run_and_report(run, parse_args())


if __name__ == "__main__":
    sys.exit(main())
