"""CPU and memory of app instances (and of the control plane itself), read with psutil.

The alerting loop calls ``UsageSampler.sample`` once per evaluation for every live instance.
An instance is its process (``/bin/sh`` running the manifest's command) and all its
descendants; CPU is the growth of their user+system time since the previous sample divided
by the wall time between the two (1.0 = one core busy), memory their resident set as a share
of the machine's memory. The first sample of an instance has no CPU figure yet.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psutil

from shipyard.drivers.runtime.procs import ProcessRef


@dataclass(frozen=True)
class Usage:
    cpu: float | None  # cores busy (0..n), None on the first sample
    memory: float  # share of the machine's memory (0..1)
    rss_bytes: int


def _tree(ref: ProcessRef) -> list[psutil.Process]:
    try:
        proc = psutil.Process(ref.pid)
        if abs(proc.create_time() - ref.create_time) > 0.05:
            return []  # the pid was reused: not our instance
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return []


class UsageSampler:
    def __init__(self) -> None:
        self._last: dict[ProcessRef, tuple[float, float]] = {}  # ref -> (wall, cpu seconds)
        self._total_memory = psutil.virtual_memory().total

    def sample(self, ref: ProcessRef) -> Usage | None:
        """Usage of the instance whose root process is ``ref``; None when it is not running."""
        procs = _tree(ref)
        if not procs:
            self._last.pop(ref, None)
            return None
        cpu_s, rss = 0.0, 0
        for proc in procs:
            try:
                times = proc.cpu_times()
                cpu_s += times.user + times.system
                rss += proc.memory_info().rss
            except psutil.Error:
                continue  # a child that just ended
        wall = time.monotonic()
        before = self._last.get(ref)
        self._last[ref] = (wall, cpu_s)
        cpu = None
        if before is not None and wall > before[0]:
            cpu = max(0.0, (cpu_s - before[1]) / (wall - before[0]))
        return Usage(cpu, rss / self._total_memory, rss)

    def forget_except(self, live: set[ProcessRef]) -> None:
        for ref in [r for r in self._last if r not in live]:
            del self._last[ref]
