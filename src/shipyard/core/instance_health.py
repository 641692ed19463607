"""Health gating and restart backoff: pure decisions over observations.

The engine feeds probe results in; these functions say whether an instance is
healthy, unhealthy or still undecided, and how long to wait before restarting
a crashed one. One lucky success is not health: it takes ``healthy_threshold``
successes in a row.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HealthState:
    successes: int = 0
    failures: int = 0
    healthy: bool = False
    unhealthy: bool = False


def observe(state: HealthState, ok: bool, healthy_after: int, unhealthy_after: int) -> HealthState:
    """Fold one probe result into ``state``."""
    if ok:
        successes = state.successes + 1
        healthy = state.healthy or successes >= healthy_after
        return HealthState(successes, 0, healthy, False if healthy else state.unhealthy)
    failures = state.failures + 1
    # failures only count against an instance that was healthy; a booting one has start_timeout
    unhealthy = state.healthy and failures >= unhealthy_after
    return HealthState(0, failures, state.healthy and not unhealthy, unhealthy or state.unhealthy)


def restart_delay(restarts: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Seconds to wait before the next restart of an instance that crashed ``restarts`` times."""
    return float(min(cap, base * (2.0 ** max(0, restarts))))
