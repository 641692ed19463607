"""CPU and memory of app instances (and of the control plane itself), read with psutil.

The alerting loop and the autoscaler call ``UsageSampler.sample`` for every live instance,
each on its own period. An instance is its process (``/bin/sh`` running the manifest's
command) and all its descendants; CPU is the growth of their user+system time since the
previous sample divided by the wall time between the two (1.0 = one core busy), memory their
resident set as a share of the machine's memory. The first sample of an instance has no CPU
figure yet. A sample taken less than ``MIN_WINDOW`` after the previous one gets that one's
CPU figure (``CpuRate``): two readers a moment apart would otherwise leave the second a window
of a few milliseconds, shorter than the kernel's accounting tick, that reads as 0 or as a spike.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Hashable
from dataclasses import dataclass

import psutil

from shipyard.drivers.runtime.procs import ProcessRef


@dataclass(frozen=True)
class Usage:
    cpu: float | None  # cores busy (0..n), None on the first sample
    memory: float  # share of the machine's memory (0..1)
    rss_bytes: int


MIN_WINDOW = 1.0  # seconds: a shorter window is answered with the previous figure


class CpuRate:
    """Cores busy between two readings of a cumulative CPU time, per key (an instance)."""

    def __init__(self) -> None:
        self._last: dict[Hashable, tuple[float, float, float | None]] = {}  # wall, cpu s, figure

    def rate(self, key: Hashable, cpu_s: float, wall: float) -> float | None:
        before = self._last.get(key)
        if before is not None and before[2] is not None and wall - before[0] < MIN_WINDOW:
            return before[2]  # too short a window to measure: the last figure stands
        cpu = None
        if before is not None and wall > before[0]:
            cpu = max(0.0, (cpu_s - before[1]) / (wall - before[0]))
        self._last[key] = (wall, cpu_s, cpu)
        return cpu

    def forget(self, key: Hashable) -> None:
        self._last.pop(key, None)

    def keep_only(self, live: Collection[Hashable]) -> None:
        for key in [k for k in self._last if k not in live]:
            del self._last[key]


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
        self._cpu = CpuRate()
        self._total_memory = psutil.virtual_memory().total

    def sample(self, ref: ProcessRef) -> Usage | None:
        """Usage of the instance whose root process is ``ref``; None when it is not running."""
        procs = _tree(ref)
        if not procs:
            self._cpu.forget(ref)
            return None
        cpu_s, rss = 0.0, 0
        for proc in procs:
            try:
                times = proc.cpu_times()
                cpu_s += times.user + times.system
                rss += proc.memory_info().rss
            except psutil.Error:
                continue  # a child that just ended
        cpu = self._cpu.rate(ref, cpu_s, time.monotonic())
        return Usage(cpu, rss / self._total_memory, rss)

    def forget_except(self, live: set[ProcessRef]) -> None:
        self._cpu.keep_only(live)
