"""The local runtime's start, on a real process: instances yield the CPU to the control plane."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import psutil

from shipyard.drivers.runtime import procs
from shipyard.drivers.runtime.supervisor import INSTANCE_NICENESS, LocalRuntime


def test_an_instance_and_its_children_run_below_the_control_plane_priority(tmp_path: Path) -> None:
    runtime = LocalRuntime(tmp_path, tmp_path / "envs")
    venv = Path(sys.prefix)
    ref = runtime.spawn(1, "sleep 30 & wait", tmp_path, venv, {}, tmp_path / "logs" / "web-1.log")
    try:
        proc = psutil.Process(ref.pid)
        children = proc.children(recursive=True)
        for _ in range(100):  # the shell forks `sleep` soon after it starts
            if children:
                break
            time.sleep(0.05)
            children = proc.children(recursive=True)
        assert proc.nice() == os.getpriority(os.PRIO_PROCESS, 0) + INSTANCE_NICENESS > 0
        assert children and all(c.nice() == proc.nice() for c in children)
        assert proc.environ()["SHIPYARD_INSTANCE_ID"] == "1"  # `nice` execs: the pid is the instance's
    finally:
        procs.terminate_group(ref, timeout=5)
