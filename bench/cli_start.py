"""CLI start benchmark: how long `shipyard rollback` takes to send its request, and `--help`.

A stand-in control plane (a local HTTP server answering the routes a rollback uses: the POST,
the deployment's samples and events) notes when the POST arrives; the time from starting the
`shipyard rollback` process to that moment is the CLI's start, as the user waits for it.
``shipyard --help`` is timed to its exit (it loads the whole Typer app).

    .venv/bin/python bench/cli_start.py                      # this checkout's CLI, 20 runs
    .venv/bin/python bench/cli_start.py --shipyard /work/main/.venv/bin/shipyard   # another one

The last stdout line is one JSON object: ``cli_help_ms``, ``cli_rollback_start_ms_p50``/``_max``
(to the request), ``cli_rollback_total_ms_p50`` (to the process's exit), ``loadavg`` and
``goals`` (the request sent within 150 ms at the median).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class StandIn(BaseHTTPRequestHandler):
    """Answers a rollback as the control plane does for an instant one; notes the POST's arrival."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self) -> None:
        if self.command == "POST":
            self.server.posted.append(time.monotonic())  # type: ignore[attr-defined]
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            data: dict[str, Any] = {"ok": True, "deployment": 1}
        elif "/samples" in self.path:
            data = {"samples": []}
        else:
            event = {"id": 1, "at": time.time(), "step": "switch", "status": "ok", "message": "switched"}
            data = {"events": [event], "status": "succeeded", "release": "r1", "error": None}
        raw = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = _answer


def time_rollback(argv: list[str], server: Any) -> tuple[float, float]:
    """(ms to the POST's arrival, ms to the process's exit) of one `shipyard rollback`."""
    server.posted.clear()
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    ended = time.monotonic()
    if done.returncode != 0 or not server.posted:
        raise SystemExit(f"`{' '.join(argv)}` failed: {done.stderr.strip()[-500:]}")
    return (server.posted[0] - started) * 1000, (ended - started) * 1000


def time_help(argv: list[str]) -> float:
    started = time.monotonic()
    subprocess.run(argv, capture_output=True, timeout=60, check=True)
    return (time.monotonic() - started) * 1000


def run(args: argparse.Namespace) -> dict[str, Any]:
    exe = args.shipyard or str(Path(sys.executable).with_name("shipyard"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    server.posted = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-cli-") as home:
        Path(home, "server.json").write_text(json.dumps({"url": f"http://127.0.0.1:{server.server_port}"}))
        Path(home, "token").write_text("bench-token\n")
        rollback = [exe, "--home", home, "rollback"]
        time_rollback(rollback, server)  # warm the page cache and .pyc files
        timed = [time_rollback(rollback, server) for _ in range(args.runs)]
        helps = [time_help([exe, "--help"]) for _ in range(max(3, args.runs // 4))]
    server.shutdown()
    start = [s for s, _ in timed]
    p50 = statistics.median(start)
    return {
        "scenario": "CLI start",
        "shipyard": exe,
        "runs": args.runs,
        "cli_help_ms": round(statistics.median(helps), 1),
        "cli_rollback_start_ms_p50": round(p50, 1),
        "cli_rollback_start_ms_max": round(max(start), 1),
        "cli_rollback_total_ms_p50": round(statistics.median(t for _, t in timed), 1),
        "loadavg": round(os.getloadavg()[0], 2),
        "goals": {"rollback_start_under_150ms": p50 < 150},
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--shipyard", help="the shipyard executable to time (default: this venv's)")
    result = run(p.parse_args())
    print(json.dumps(result), flush=True)
    return 0 if all(result["goals"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
