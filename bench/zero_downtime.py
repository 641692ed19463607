"""Zero-downtime benchmark: blue-green deploys and rollbacks under HTTP load, end to end.

Starts a private Shipyard (control plane, HAProxy, instances of ``examples/notes``) in a
temporary folder, then:

1. deploys v1 (this first build also warms the dependency cache, so the timed deploys
   below are cached builds);
2. measures ``direct_rps`` (wrk at one instance's port) and ``proxy_rps`` (the same wrk
   through HAProxy), one after the other, with the same number of connections;
3. holds load through the proxy with a separate wrk process (a Lua script counts non-2xx
   answers) while it deploys v2, rolls back, deploys v2, rolls back, deploys v2, rolls
   back, and finally deploys the ``broken`` version, which must be refused; after each of
   those rollbacks (timed from the API request), two more through the real CLI, as a user
   types them (``shipyard rollback``: forward to v2, back to v1; timed from the moment the
   process is started until every answer is from the target release: ``rollback_cli_ms``);
4. stops the load, runs ``shipyard down``, checks that no process of this run is left and
   removes the temporary folder.

Progress goes to stderr; the last line of stdout is one JSON object with the figures.
The exit code is 1 when the scenario went wrong (a deploy failed, a rollback was not seen,
the broken release was not refused, a process was left behind...), 0 otherwise: failed
requests are a result, reported in the JSON (``failed``, ``goals``), not an error.

Traffic only ever goes to 127.0.0.1, and every wrk run is bounded by its ``-d``.

    .venv/bin/python bench/zero_downtime.py --connections 200 --duration 40
    .venv/bin/python bench/zero_downtime.py --runtime swarm --connections 200  # zero_downtime_swarm.py
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
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "notes"
ENV = "dev"
HOST = "127.0.0.1"
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "shipyard-bench-cache"
LOAD_HARD_EXTRA_S = 180  # the held load's wrk -d: --duration plus this, a hard bound
DEPLOY_TIMEOUT_S = 120.0
WRK_TIMEOUT_S = 5

# Counts every answer that is not 2xx, by status and by wall-clock second, across threads.
LUA_COUNT_NON_2XX = """\
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
  by_status = {}
  by_second = {}
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    bad = bad + 1
    by_status[status] = (by_status[status] or 0) + 1
    local now = os.time()
    by_second[now] = (by_second[now] or 0) + 1
  end
end

local function merge(into, from)
  for k, v in pairs(from) do into[k] = (into[k] or 0) + v end
end

function done(summary, latency, requests)
  local total, statuses, seconds = 0, {}, {}
  for _, t in ipairs(threads) do
    total = total + t:get("bad")
    merge(statuses, t:get("by_status"))
    merge(seconds, t:get("by_second"))
  end
  io.write(string.format("BENCH_NON2XX %d\\n", total))
  for k, v in pairs(statuses) do io.write(string.format("BENCH_STATUS %d %d\\n", k, v)) end
  for k, v in pairs(seconds) do io.write(string.format("BENCH_BAD_SECOND %d %d\\n", k, v)) end
end
"""

_T0 = time.monotonic()


class BenchError(Exception):
    """Something in the scenario went wrong (not a measured figure)."""


def log(message: str) -> None:
    print(f"[{time.monotonic() - _T0:7.2f}s] {message}", file=sys.stderr, flush=True)


# wrk ----------------------------------------------------------------------------------------
@dataclass
class WrkResult:
    requests: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    socket_errors: dict[str, int] = field(default_factory=dict)
    non_2xx: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    bad_seconds: dict[int, int] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)

    @property
    def socket_error_total(self) -> int:
        return sum(self.socket_errors.values())

    @property
    def failed(self) -> int:
        return self.non_2xx + self.socket_error_total


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _to_ms(value: str, unit: str) -> float:
    return float(value) * _UNIT_MS[unit]


def parse_wrk(text: str) -> WrkResult:
    """Read wrk's report (and the BENCH_ lines of the Lua script, when one was used)."""
    res = WrkResult()
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m),", text)
    if done is None:
        raise BenchError(f"could not parse wrk's output:\n{text[-2000:]}")
    res.requests = int(done.group(1))
    res.seconds = _to_ms(done.group(2), done.group(3)) / 1000
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    res.rps = float(rps.group(1)) if rps else res.requests / max(res.seconds, 1e-9)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    names = ("connect", "read", "write", "timeout")
    res.socket_errors = {n: int(errs.group(i + 1)) if errs else 0 for i, n in enumerate(names)}
    script = re.search(r"BENCH_NON2XX (\d+)", text)
    builtin = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    res.non_2xx = int(script.group(1)) if script else int(builtin.group(1)) if builtin else 0
    res.statuses = {int(c): int(n) for c, n in re.findall(r"BENCH_STATUS (\d+) (\d+)", text)}
    res.bad_seconds = {int(s): int(n) for s, n in re.findall(r"BENCH_BAD_SECOND (\d+) (\d+)", text)}
    for pct, value, unit in re.findall(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M):
        res.latency_ms[f"p{pct}"] = round(_to_ms(value, unit), 2)
    return res


def wrk_argv(url: str, connections: int, seconds: float, script: Path | None) -> list[str]:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{round(seconds)}s", "--latency"]
    argv += ["--timeout", f"{WRK_TIMEOUT_S}s"]
    if script is not None:
        argv += ["-s", str(script)]
    return [*argv, url]


def run_wrk(url: str, connections: int, seconds: float) -> WrkResult:
    """One bounded wrk run, waited for."""
    argv = wrk_argv(url, connections, seconds, None)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)
    if done.returncode != 0:
        raise BenchError(f"wrk exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return parse_wrk(done.stdout)


class HeldLoad:
    """wrk through the proxy in the background for the whole scenario, stopped with SIGINT."""

    def __init__(self, url: str, connections: int, max_seconds: float, script: Path) -> None:
        self.argv = wrk_argv(url, connections, max_seconds, script)
        self.proc: subprocess.Popen[str] | None = None
        self.started = 0.0

    def start(self) -> None:
        pipe = subprocess.PIPE
        self.proc = subprocess.Popen(self.argv, stdout=pipe, stderr=pipe, text=True)
        self.started = time.monotonic()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> WrkResult:
        """Stop wrk (it prints its full report on SIGINT) and parse the report."""
        assert self.proc is not None
        ended_by_itself = not self.running()
        if not ended_by_itself:
            self.proc.send_signal(signal.SIGINT)
        try:
            out, errors = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, errors = self.proc.communicate()
        if ended_by_itself:
            raise BenchError("the held load ended before the scenario did (wrk's hard bound)")
        if errors.strip():
            log(f"wrk stderr: {errors.strip()[-300:]}")
        return parse_wrk(out)

    def kill(self) -> None:
        if self.running():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait()


# the control plane ----------------------------------------------------------------------
class ControlPlane:
    """Runs the ``shipyard`` CLI for up/down and talks to the HTTP API for the rest."""

    def __init__(self, home: Path, app_dir: Path, cache_dir: Path) -> None:
        self.home = home
        self.app_dir = app_dir
        self.env = {**os.environ, "SHIPYARD_CACHE_DIR": str(cache_dir), "NO_COLOR": "1"}
        self.http: httpx.Client | None = None
        self.pid: int | None = None

    def argv(self, *args: str) -> list[str]:
        exe = Path(sys.executable).with_name("shipyard")
        base = [str(exe)] if exe.exists() else [sys.executable, "-m", "shipyard"]
        return [*base, "--home", str(self.home), "--app-dir", str(self.app_dir), *args]

    def cli(self, *args: str, timeout: float = 90) -> str:
        argv = self.argv(*args)
        done = subprocess.run(
            argv, capture_output=True, text=True, env=self.env, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise BenchError(f"`shipyard {' '.join(args)}` failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def up(self, api_port: int) -> None:
        self.cli("up", "--api-port", str(api_port))
        info = json.loads((self.home / "server.json").read_text())
        self.pid = int(info["pid"])
        token = (self.home / "token").read_text().strip()
        self.http = httpx.Client(
            base_url=info["url"],
            headers={"Authorization": f"Bearer {token}"},
            trust_env=False,
            timeout=30,
        )

    def down(self) -> None:
        if self.http is not None:
            self.http.close()
            self.http = None
        self.cli("down", timeout=120)
        if self.pid is not None:
            with suppress(psutil.NoSuchProcess):
                psutil.Process(self.pid).wait(timeout=15)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
        assert self.http is not None
        resp = self.http.request(method, path, json=body, params=params)
        data = resp.json()
        if resp.status_code >= 400:
            raise BenchError(f"{method} {path} answered {resp.status_code}: {data}")
        return data

    def status(self) -> dict[str, Any]:
        envs: dict[str, Any] = self.call("GET", "/api/status")["environments"]
        return dict(envs[ENV])

    def deployment(self, dep_id: int) -> dict[str, Any]:
        return dict(self.call("GET", f"/api/deployments/{dep_id}"))

    def wait_deployment(self, dep_id: int, timeout: float = DEPLOY_TIMEOUT_S) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            dep = self.deployment(dep_id)
            if dep["status"] != "running":
                return dep
            if time.monotonic() > deadline:
                raise BenchError(f"deployment {dep_id} still running after {timeout:g}s")
            time.sleep(0.05)


# the app folder -----------------------------------------------------------------------------
def prepare_app(app_dir: Path, proxy_port: int, instances: int) -> None:
    """The example's shipyard.yaml (own public port and instance count) and v1's source."""
    app_dir.mkdir(parents=True)
    text = (EXAMPLE / "shipyard.yaml").read_text()
    text = re.sub(r"(?m)^(\s+port:) 8080$", rf"\g<1> {proxy_port}", text)
    text = re.sub(r"(?m)^(\s+instances:) \d+$", rf"\g<1> {instances}", text)
    (app_dir / "shipyard.yaml").write_text(text)
    shutil.copy(EXAMPLE / "v1" / "requirements.txt", app_dir / "requirements.txt")
    use_version(app_dir, "v1")


def use_version(app_dir: Path, version: str) -> None:
    """Change the code: copy that version's files (app.py, its migrate.py) over the working copy."""
    for path in (EXAMPLE / version).iterdir():
        shutil.copy(path, app_dir / path.name)


def port_free(port: int) -> bool:
    """Whether a listener (HAProxy binds with SO_REUSEADDR) could bind ``port`` now."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# what the proxy serves ------------------------------------------------------------------------
class Watcher:
    """A keep-alive client polling ``GET /`` through the proxy, to see which release serves.

    Its failed requests are recorded (``failures``) as evidence, not raised: wrk counts the
    load's failures; the watcher only answers "which release serves now".
    """

    def __init__(self, proxy_url: str, request_timeout: float = 10.0, path: str = "/") -> None:
        self.client = httpx.Client(base_url=proxy_url, trust_env=False, timeout=request_timeout)
        self.path = path  # answers JSON with the serving release's id in "release"
        self.failures: list[str] = []

    def release(self) -> str | None:
        try:
            resp = self.client.get(self.path)
        except httpx.HTTPError as exc:
            self.failures.append(f"{time.time():.3f} {type(exc).__name__}")
            return None
        if resp.status_code != 200:
            self.failures.append(f"{time.time():.3f} status {resp.status_code}")
            return None
        return str(resp.json().get("release"))

    def wait_for(self, release: str, consecutive: int, timeout: float = 60.0) -> Seen:
        """The first of ``consecutive`` answers in a row from ``release`` (wall times)."""
        deadline = time.monotonic() + timeout
        first, streak, last = Seen(0.0, 0.0), 0, ""
        while streak < consecutive:
            if time.monotonic() > deadline:
                raise BenchError(
                    f"the proxy did not serve only {release} within {timeout:g}s (last answer: {last})"
                )
            sent = time.time()
            got = self.release()
            last = str(got)
            if got != release:
                streak = 0
                continue
            if streak == 0:
                first = Seen(sent, time.time())
            streak += 1
        return first

    def close(self) -> None:
        self.client.close()


@dataclass(frozen=True)
class Seen:
    sent: float  # when the request left
    received: float  # when its answer arrived


# HAProxy's counters, for diagnostics -------------------------------------------------------
BACKEND_COUNTERS = ("cli_abrt", "srv_abrt", "econ", "eresp", "wretr", "wredis")


@dataclass(frozen=True)
class StatSample:
    at: float
    counters: dict[str, int]  # frontend 5xx and backend error counters (cumulative)
    serving_down: tuple[str, ...]  # servers in service (not in maintenance) that HAProxy sees DOWN
    serving: int  # servers in service: the active colour and, in the rollback window, the standby


def parse_stat_sample(text: str, env: str) -> StatSample:
    counters: dict[str, int] = {}
    down: list[str] = []
    serving = 0
    for row in csv.DictReader(io.StringIO(text.lstrip("# ").strip())):
        if row.get("pxname") == f"fe_{env}" and row.get("svname") == "FRONTEND":
            counters["5xx"] = int(row.get("hrsp_5xx") or 0)
        elif not str(row.get("pxname")).startswith(f"be_{env}_"):
            continue
        elif row.get("svname") == "BACKEND":
            for c in BACKEND_COUNTERS:
                counters[c] = counters.get(c, 0) + int(row.get(c) or 0)
        elif not row.get("status", "").startswith("MAINT"):
            serving += 1
            if row.get("status", "").startswith("DOWN"):
                down.append(str(row.get("svname")))
    return StatSample(time.time(), counters, tuple(down), serving)


class ProxySampler:
    """Reads HAProxy's ``show stat`` twice a second during the held load (diagnostics only).

    It uses the admin socket of this run's own HAProxy, read-only. Counter increases per
    phase say where HAProxy itself failed requests: ``5xx`` are its error answers, ``econ``
    failed server connections (and queue timeouts), ``cli_abrt`` clients that gave up; a
    serving server seen DOWN is a health check that failed under load.
    """

    def __init__(self, socket_path: Path, env: str, interval: float = 0.5) -> None:
        self.socket_path = socket_path
        self.env = env
        self.interval = interval
        self.samples: list[StatSample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            with suppress(OSError, ValueError):
                self.samples.append(parse_stat_sample(self._show_stat(), self.env))

    def _show_stat(self) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(str(self.socket_path))
            sock.sendall(b"show stat\n")
            chunks = []
            while data := sock.recv(65536):
                chunks.append(data)
        return b"".join(chunks).decode(errors="replace")


def phase_at(phases: list[tuple[float, str]], at: float) -> str:
    name = "before scenario"
    for started, phase in phases:
        if started <= at:
            name = phase
    return name


def proxy_by_phase(samples: list[StatSample], phases: list[tuple[float, str]]) -> dict[str, dict[str, int]]:
    """Counter increases and DOWN sightings per phase; phases with nothing are left out."""
    out: dict[str, dict[str, int]] = {}
    for before, after in itertools.pairwise(samples):
        row = out.setdefault(phase_at(phases, after.at), {})
        for name, value in after.counters.items():
            # a reloaded HAProxy starts its counters again from zero
            grew = value - before.counters.get(name, 0)
            row[name] = row.get(name, 0) + (grew if grew >= 0 else value)
        if after.serving_down:
            row["samples_serving_server_down"] = row.get("samples_serving_server_down", 0) + 1
        if after.serving and len(after.serving_down) == after.serving:
            row["samples_all_serving_down"] = row.get("samples_all_serving_down", 0) + 1
    busy = {phase: row for phase, row in out.items() if any(row.values())}
    return {phase: {k: v for k, v in row.items() if v} for phase, row in busy.items()}


# a time-stamped latency probe ---------------------------------------------------------------
@dataclass(frozen=True)
class ProbeSample:
    at: float  # wall time the request left
    seconds: float
    ok: bool  # a 200 answer


class LatencyProbe:
    """One more client sending ``GET /`` through the proxy back to back during the held load.

    wrk only gives totals; these time-stamped samples say in which phase requests were
    slow (``over_timeout``: slower than wrk's --timeout) or failed.
    """

    def __init__(self, proxy_url: str, request_timeout: float = 10.0) -> None:
        self.client = httpx.Client(base_url=proxy_url, trust_env=False, timeout=request_timeout)
        self.samples: list[ProbeSample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="probe", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)
        self.client.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            sent, started = time.time(), time.monotonic()
            try:
                ok = self.client.get("/").status_code == 200
            except httpx.HTTPError:
                ok = False
            self.samples.append(ProbeSample(sent, time.monotonic() - started, ok))


def probe_by_phase(
    samples: list[ProbeSample], phases: list[tuple[float, str]], slow_s: float
) -> dict[str, dict[str, float]]:
    """Per phase: probe requests, their median and max latency, slow and failed ones."""
    grouped: dict[str, list[ProbeSample]] = {}
    for sample in samples:
        grouped.setdefault(phase_at(phases, sample.at), []).append(sample)
    out: dict[str, dict[str, float]] = {}
    for phase, group in grouped.items():
        ms = [x.seconds * 1000 for x in group]
        out[phase] = {
            "n": len(group),
            "p50_ms": round(statistics.median(ms), 1),
            "max_ms": round(max(ms), 1),
            "over_timeout": sum(x.seconds > slow_s for x in group),
            "failed": sum(not x.ok for x in group),
        }
    return out


# the scenario -------------------------------------------------------------------------------
@dataclass
class Figures:
    deploy_s: list[float] = field(default_factory=list)
    rollback_ms: list[float] = field(default_factory=list)
    rollback_sent_ms: list[float] = field(default_factory=list)
    rollback_server_ms: list[float] = field(default_factory=list)
    rollback_cli_ms: list[float] = field(default_factory=list)  # process started -> all on target
    rollback_cli_request_ms: list[float] = field(default_factory=list)  # -> the server began it
    rollback_cli_exit_ms: list[float] = field(default_factory=list)  # -> the process exited
    broken_refused: bool = False
    broken_s: float | None = None
    first_deploy_s: float | None = None
    phases: list[tuple[float, str]] = field(default_factory=list)
    proxy_samples: list[StatSample] = field(default_factory=list)
    probe_samples: list[ProbeSample] = field(default_factory=list)
    watcher_failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    loadavg_before: float = field(default_factory=lambda: round(os.getloadavg()[0], 2))

    def mark(self, phase: str) -> None:
        self.phases.append((time.time(), phase))


@dataclass
class Bench:
    cp: ControlPlane
    app_dir: Path
    watcher: Watcher
    consecutive: int
    settle: float
    figures: Figures = field(default_factory=Figures)

    def use(self, version: str) -> None:
        """Change the app's code to ``version`` (the notes example's files)."""
        use_version(self.app_dir, version)

    def deploy(self, version: str) -> dict[str, Any]:
        """Deploy ``version``'s code and wait until the deployment ends."""
        self.use(version)
        issued = time.time()
        dep_id = self.cp.call("POST", "/api/deploy", {"env": ENV})["deployment"]
        dep = self.cp.wait_deployment(dep_id)
        dep["issued_at"] = issued
        return dep

    def timed_deploy(self, version: str) -> float:
        """Deploy, check the proxy serves the new release, return issue -> switch done (s)."""
        dep = self.deploy(version)
        if dep["status"] != "succeeded":
            raise BenchError(f"deploy of {version} {dep['status']}: {dep['error']}")
        switch = next(s for s in dep["steps"] if s["name"] == "switch")
        took = switch["finished_at"] - dep["issued_at"]
        self.watcher.wait_for(dep["release_id"], self.consecutive)
        steps = ", ".join(f"{s['name']} {s['seconds']:.2f}s" for s in dep["steps"])
        log(f"deployed {version} as {dep['release_id']}: switched after {took:.2f}s ({steps})")
        return float(took)

    def timed_rollback(self) -> None:
        """Roll back; time POST issued -> first of N answers in a row from the old release."""
        target = self.cp.status()["standby_release"]
        issued = time.time()
        dep_id = self.cp.call("POST", "/api/rollback", {"env": ENV})["deployment"]
        answered = time.time()
        seen = self.watcher.wait_for(target, self.consecutive)
        dep = self.cp.wait_deployment(dep_id)
        if dep["status"] != "succeeded" or [s["name"] for s in dep["steps"]] != ["switch"]:
            raise BenchError(f"rollback {dep_id} was not an instant switch: {dep}")
        switch_ms = (seen.received - issued) * 1000
        server_ms = dep["steps"][0]["seconds"] * 1000
        self.figures.rollback_ms.append(switch_ms)
        self.figures.rollback_sent_ms.append((seen.sent - issued) * 1000)
        self.figures.rollback_server_ms.append(server_ms)
        log(
            f"rolled back to {target}: all traffic on it {switch_ms:.1f} ms after the POST "
            f"(POST answered in {(answered - issued) * 1000:.1f} ms, switch step "
            f"{server_ms:.1f} ms)"
        )

    def cli_rollback(self) -> None:
        """`shipyard rollback` as a user runs it: process started -> first of N answers from
        the standby release; also when the server began the rollback and when the CLI exited."""
        target = self.cp.status()["standby_release"]
        started = time.time()
        proc = subprocess.Popen(
            self.cp.argv("rollback", ENV), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.cp.env
        )
        exited: list[float] = []
        waiter = threading.Thread(target=lambda: (proc.wait(), exited.append(time.time())), daemon=True)
        waiter.start()
        try:
            seen = self.watcher.wait_for(target, self.consecutive)
        finally:
            _, err = proc.communicate(timeout=90)
            waiter.join()
        if proc.returncode != 0:
            raise BenchError(f"`shipyard rollback` failed: {err.decode().strip()}")
        dep = self.cp.call("GET", "/api/deployments", None, env=ENV, limit=1)[0]
        took, request, exit_ms = ((t - started) * 1000 for t in (seen.received, dep["started_at"], exited[0]))
        self.figures.rollback_cli_ms.append(took)
        self.figures.rollback_cli_request_ms.append(request)
        self.figures.rollback_cli_exit_ms.append(exit_ms)
        log(
            f"`shipyard rollback` to {target}: all traffic on it {took:.1f} ms after the process "
            f"started (server began it at {request:.1f} ms, the CLI exited at {exit_ms:.1f} ms)"
        )

    def broken_deploy(self) -> None:
        """The broken release must fail its deploy while the serving release keeps serving."""
        serving = self.cp.status()["active_release"]
        dep = self.deploy("broken")
        self.figures.broken_s = dep["finished_at"] - dep["issued_at"]
        still = self.cp.status()["active_release"]
        if dep["status"] == "failed" and still == serving:
            self.watcher.wait_for(serving, self.consecutive)
            self.figures.broken_refused = True
            log(f"broken release refused after {self.figures.broken_s:.1f}s: {dep['error']}")
        else:
            raise BenchError(f"broken deploy {dep['status']}; serving {still} (was {serving})")

    def pause(self) -> None:
        time.sleep(self.settle)

    def scenario(self, load: HeldLoad) -> None:
        """v2, rollback, v2, rollback, v2, rollback, broken; the load sees each state."""
        steps: list[tuple[str, Callable[[], None]]] = []
        for n in (1, 2, 3):
            steps.append((f"deploy v2 #{n}", self.deploy_v2))
            steps.append((f"rollback #{n}", self.timed_rollback))
            steps.append((f"cli rollback forward #{n}", self.cli_rollback))
            steps.append((f"cli rollback #{n}", self.cli_rollback))
        steps.append(("deploy broken", self.broken_deploy))
        self.pause()
        for name, step in steps:
            if not load.running():
                raise BenchError("the held load ended before the scenario did")
            self.figures.mark(name)
            step()
            self.figures.mark(f"after {name}")
            self.pause()

    def deploy_v2(self) -> None:
        self.figures.deploy_s.append(self.timed_deploy("v2"))


# leftovers ----------------------------------------------------------------------------------
def processes_of(home: Path) -> list[psutil.Process]:
    """Processes this run started: instances (SHIPYARD_HOME) and anything naming ``home``."""
    mine, needle = [], str(home)
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if proc.pid == os.getpid():
            continue
        try:
            named = needle in " ".join(proc.info["cmdline"] or [])
            if named or proc.environ().get("SHIPYARD_HOME") == needle:
                mine.append(proc)
        except (psutil.Error, OSError):
            continue
    return mine


def check_leftovers(home: Path, figures: Figures) -> None:
    deadline = time.monotonic() + 10
    left = processes_of(home)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = processes_of(home)
    if left:
        names = ", ".join(f"{p.pid} {' '.join(p.cmdline()[:3])}" for p in left)
        figures.errors.append(f"processes left after `shipyard down`: {names}")
        for proc in left:
            with suppress(psutil.Error):
                proc.kill()
    else:
        log("no HAProxy, uvicorn or control-plane process of this run is left")


# results --------------------------------------------------------------------------------------
def non_2xx_by_phase(load: WrkResult, phases: list[tuple[float, str]]) -> dict[str, int]:
    """The load's non-2xx answers (counted per wall-clock second) by scenario phase."""
    out: dict[str, int] = {}
    for second, count in sorted(load.bad_seconds.items()):
        name = phase_at(phases, second + 0.5)
        out[name] = out.get(name, 0) + count
    return out


def summary(
    args: argparse.Namespace,
    load: WrkResult | None,
    direct: WrkResult | None,
    proxy: WrkResult | None,
    figures: Figures,
) -> dict[str, Any]:
    rb, dep, cli = figures.rollback_ms, figures.deploy_s, figures.rollback_cli_ms
    ratio = proxy.rps / direct.rps if proxy and direct and direct.rps else None
    out: dict[str, Any] = {
        "scenario": "baseline (no deploys)" if args.baseline else "deploys and rollbacks",
        "concurrency": args.connections,
        "instances": args.instances,
        "loadavg_1m_before": figures.loadavg_before,
        "load_s": round(load.seconds, 2) if load else None,
        "requests": load.requests if load else None,
        "load_rps": round(load.rps, 1) if load else None,
        "failed": load.failed if load else None,
        "non_2xx": load.non_2xx if load else None,
        "socket_errors": load.socket_error_total if load else None,
        "socket_errors_detail": load.socket_errors if load else None,
        "statuses_non_2xx": load.statuses if load else None,
        "non_2xx_by_phase": non_2xx_by_phase(load, figures.phases) if load else None,
        "latency_ms": load.latency_ms if load else None,
        "rollbacks": len(rb),
        "rollback_switch_ms_p50": round(statistics.median(rb), 1) if rb else None,
        "rollback_switch_ms_max": round(max(rb), 1) if rb else None,
        "rollback_switch_ms": [round(x, 1) for x in rb],
        "rollback_switch_sent_ms": [round(x, 1) for x in figures.rollback_sent_ms],
        "rollback_server_ms": [round(x, 2) for x in figures.rollback_server_ms],
        "rollback_cli_ms_p50": round(statistics.median(cli), 1) if cli else None,
        "rollback_cli_ms_max": round(max(cli), 1) if cli else None,
        "rollback_cli_ms": [round(x, 1) for x in cli],
        "rollback_cli_request_ms": [round(x, 1) for x in figures.rollback_cli_request_ms],
        "rollback_cli_exit_ms": [round(x, 1) for x in figures.rollback_cli_exit_ms],
        "deploys": len(dep),
        "deploy_s": round(max(dep), 2) if dep else None,
        "deploy_s_p50": round(statistics.median(dep), 2) if dep else None,
        "deploy_s_all": [round(x, 2) for x in dep],
        "first_deploy_s": figures.first_deploy_s,
        "broken_refused": figures.broken_refused,
        "broken_deploy_s": round(figures.broken_s, 2) if figures.broken_s else None,
        "direct_rps": round(direct.rps, 1) if direct else None,
        "proxy_rps": round(proxy.rps, 1) if proxy else None,
        "proxy_direct_ratio": round(ratio, 3) if ratio else None,
        "direct_latency_ms": direct.latency_ms if direct else None,
        "proxy_latency_ms": proxy.latency_ms if proxy else None,
        "measure_failed": {
            "direct": direct.failed if direct else None,
            "proxy": proxy.failed if proxy else None,
        },
        "probe_by_phase": probe_by_phase(figures.probe_samples, figures.phases, WRK_TIMEOUT_S),
        "proxy_samples": len(figures.proxy_samples),
        "proxy_by_phase": proxy_by_phase(figures.proxy_samples, figures.phases),
        "watcher_failures": figures.watcher_failures[:20],
        "errors": figures.errors,
    }
    out["goals"] = {
        "failed_zero": out["failed"] == 0,
        "rollback_under_1000ms": bool(rb) and max(rb) < 1000,
        "rollback_cli_under_500ms": bool(cli) and max(cli) < 500,
        "deploy_under_15s": bool(dep) and max(dep) < 15,
        "proxy_ratio_at_least_0.6": ratio is not None and ratio >= 0.6,
    }
    out["ok"] = not figures.errors and (args.baseline or figures.broken_refused)
    return out


# putting it together --------------------------------------------------------------------------
@contextmanager
def workspace(keep: bool) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="shipyard-bench-")).resolve()
    try:
        yield root
    finally:
        if keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def first_deploy(bench: Bench) -> None:
    bench.figures.mark("deploy v1")
    dep = bench.deploy("v1")
    if dep["status"] != "succeeded":
        raise BenchError(f"first deploy (v1) {dep['status']}: {dep['error']}")
    build = next(s for s in dep["steps"] if s["name"] == "build")
    bench.figures.first_deploy_s = round(dep["finished_at"] - dep["issued_at"], 2)
    bench.watcher.wait_for(dep["release_id"], bench.consecutive)
    log(f"v1 serving as {dep['release_id']} (build: {build['detail']})")


def measure_throughput(
    cp: ControlPlane, proxy_url: str, args: argparse.Namespace, here: frozenset[str] = frozenset({HOST})
) -> tuple[WrkResult, WrkResult]:
    """wrk at one serving instance, then through HAProxy. The instance is one whose endpoint's
    host is in ``here`` (this machine's addresses: its port is reached at 127.0.0.1)."""
    st = cp.status()
    port = next(
        (
            i["port"]
            for i in st["instances"]
            if i["name"].startswith(st["active_colour"])
            and i["state"] == "running"
            and str(i["endpoint"]).rpartition(":")[0] in here
        ),
        None,
    )
    if port is None:
        raise BenchError(f"no serving instance runs on this machine ({', '.join(sorted(here))})")
    log(f"direct: wrk -c{args.connections} for {args.measure}s at instance port {port}")
    direct = run_wrk(f"http://{HOST}:{port}/", args.connections, args.measure)
    log(f"direct: {direct.rps:.0f} req/s, failed {direct.failed}")
    time.sleep(1)
    log(f"proxy: wrk -c{args.connections} for {args.measure}s through {proxy_url}")
    proxy = run_wrk(f"{proxy_url}/", args.connections, args.measure)
    log(f"proxy: {proxy.rps:.0f} req/s, failed {proxy.failed} ({proxy.rps / direct.rps:.2f}x)")
    return direct, proxy


def held_load_run(bench: Bench, proxy_url: str, args: argparse.Namespace, root: Path) -> WrkResult:
    script = root / "count_non_2xx.lua"
    script.write_text(LUA_COUNT_NON_2XX)
    load = HeldLoad(f"{proxy_url}/", args.connections, args.duration + LOAD_HARD_EXTRA_S, script)
    sampler = ProxySampler(bench.cp.home / "proxy" / "admin.sock", ENV)
    probe = LatencyProbe(proxy_url)
    log(f"held load: wrk -c{args.connections} through the proxy for the whole scenario")
    bench.figures.mark("steady v1")
    sampler.start()
    load.start()
    probe.start()
    try:
        if args.baseline:
            log(f"baseline: {args.duration:g}s of load on v1, no deploy or rollback")
        else:
            bench.scenario(load)
        remaining = args.duration - (time.monotonic() - load.started)
        if remaining > 0:
            log(f"holding the load {remaining:.1f}s more (--duration {args.duration:g})")
            time.sleep(remaining)
        bench.figures.mark("stopping the load")
        result = load.stop()
    finally:
        load.kill()
        sampler.stop()
        probe.stop()
        bench.figures.proxy_samples = sampler.samples
        bench.figures.probe_samples = probe.samples
    log(
        f"held load: {result.requests} requests in {result.seconds:.1f}s, "
        f"non-2xx {result.non_2xx}, socket errors {result.socket_errors}"
    )
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    figures = Figures()
    load = direct = proxy = None
    with workspace(args.keep) as root:
        app_dir, home = root / "app", root / "home"
        prepare_app(app_dir, args.proxy_port, args.instances)
        cp = ControlPlane(home, app_dir, args.cache_dir)
        proxy_url = f"http://{HOST}:{args.proxy_port}"
        watcher = Watcher(proxy_url)
        bench = Bench(cp, app_dir, watcher, args.consecutive, args.settle, figures)
        try:
            if not port_free(args.proxy_port):
                raise BenchError(f"port {args.proxy_port} is taken: pass another --proxy-port")
            api_port = free_port()
            log(f"shipyard up (API port {api_port}, proxy port {args.proxy_port}) in {root}")
            cp.up(api_port)
            first_deploy(bench)
            direct, proxy = measure_throughput(cp, proxy_url, args)
            time.sleep(1)
            load = held_load_run(bench, proxy_url, args, root)
        except (BenchError, httpx.HTTPError, subprocess.SubprocessError, OSError) as exc:
            figures.errors.append(f"{type(exc).__name__}: {exc}")
            log(f"ERROR: {exc}")
        finally:
            watcher.close()
            figures.watcher_failures = watcher.failures
            shutdown(cp, home, figures)
    return summary(args, load, direct, proxy, figures)


def shutdown(cp: ControlPlane, home: Path, figures: Figures) -> None:
    log("shipyard down")
    try:
        if (home / "server.json").exists():
            cp.down()
    except (BenchError, subprocess.SubprocessError, psutil.Error) as exc:
        figures.errors.append(f"shipyard down: {exc}")
    check_leftovers(home, figures)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--connections", type=int, default=200, help="wrk connections (all runs)")
    p.add_argument(
        "--duration",
        type=float,
        default=40,
        help="minimum seconds of the held load; it lasts as long as the scenario if longer",
    )
    p.add_argument("--measure", type=float, default=8, help="seconds of each rps measurement")
    p.add_argument("--instances", type=int, default=2, help="instances per colour")
    p.add_argument("--proxy-port", type=int, default=18180, help="public port of the app")
    p.add_argument("--settle", type=float, default=2.0, help="seconds between steps")
    p.add_argument("--consecutive", type=int, default=20, help="answers in a row that prove a switch")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="SHIPYARD_CACHE_DIR")
    p.add_argument(
        "--baseline",
        action="store_true",
        help="control run: hold the load for --duration with no deploy or rollback",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (debugging)")
    p.add_argument(
        "--runtime",
        choices=("process", "swarm"),
        default="process",
        help="swarm: tinyapp on a private two-node Docker Swarm and registry (zero_downtime_swarm.py)",
    )
    return p.parse_args(argv)


def run_and_report(scenario: Callable[[argparse.Namespace], dict[str, Any]], args: argparse.Namespace) -> int:
    """Run a benchmark scenario and print its figures as the last stdout line (shared by bench/*)."""
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 1
    result = scenario(args)
    log(f"goals: {result['goals']}")
    print(json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


def main() -> int:
    args = parse_args()
    if args.runtime == "swarm":
        import zero_downtime_swarm  # here: it needs dockerd, the test rig and this module

        return run_and_report(zero_downtime_swarm.run, args)
    return run_and_report(run, args)


if __name__ == "__main__":
    sys.exit(main())
