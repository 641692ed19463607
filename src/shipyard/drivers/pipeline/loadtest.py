"""A short load test with wrk against 127.0.0.1, for post-deploy verification.

``run_wrk`` writes ``core/pipeline/verification.py``'s Lua hook beside the logs, runs wrk for
the given seconds (two threads, the given connections, killed at the duration plus a margin)
and returns its output for ``read_wrk``. Only a URL on 127.0.0.1 is ever loaded: the caller
builds it from the environment's port. Called by ``engine/pipeline/verify.py``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from shipyard.core.pipeline.verification import WRK_SCRIPT
from shipyard.errors import DeployError

MARGIN = 15.0


def run_wrk(port: int, path: str, seconds: float, connections: int, scratch: Path) -> str:
    """wrk's output for ``seconds`` of requests to ``http://127.0.0.1:<port><path>``."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise DeployError("wrk is not installed (verify.load needs it)", "apt-get install wrk")
    scratch.mkdir(parents=True, exist_ok=True)
    script = scratch / "shipyard-wrk.lua"
    script.write_text(WRK_SCRIPT)
    argv = [
        wrk, "-t", "2", "-c", str(max(connections, 2)), "-d", f"{max(1, round(seconds))}s",
        "--timeout", "5s", "-s", str(script), f"http://127.0.0.1:{port}{path}",
    ]  # fmt: skip
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + MARGIN, check=False)
    except subprocess.TimeoutExpired:
        raise DeployError(f"wrk ran past {seconds + MARGIN:.0f}s", "check the environment answers") from None
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise DeployError(f"wrk failed: {said[:300]}", "check verify.load in shipyard.yaml")
    return done.stdout
