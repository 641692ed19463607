"""Health gating and restart backoff: pure decisions over observations.

The engine feeds probe results in; these functions say whether an instance is
healthy, unhealthy or still undecided, and how long to wait before restarting
a crashed one. One lucky success is not health: it takes ``healthy_threshold``
successes in a row. The liveness rule (``liveness_after``, ``must_replace``) says when an
instance that is alive but no longer answers must be replaced (the reconciler's liveness watch).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shipyard.core.records import Instance


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


def out_of_traffic(dead: Iterable[Instance], alive: Iterable[Instance]) -> list[Instance]:
    """The dead web instances to take out of HAProxy at once, rather than when its health check
    has failed them: each one a live instance of its colour can stand in for. The last one of a
    colour is left to the health check, so an engine that answers wrongly for a moment (every
    instance "dead") never empties a backend that still serves."""
    peers = {(i.env, i.colour) for i in alive if i.process == "web"}
    return [i for i in dead if i.process == "web" and i.endpoint is not None and (i.env, i.colour) in peers]


def restart_delay(restarts: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Seconds to wait before the next restart of an instance that crashed ``restarts`` times."""
    return float(min(cap, base * (2.0 ** max(0, restarts))))


@dataclass(frozen=True)
class Liveness:
    """One run of an instance as the liveness rule sees it: when it was first seen, whether it
    has answered healthy yet, and since when its probes fail (None: the last one passed)."""

    seen_at: float
    answered: bool = False
    failing_since: float | None = None


def liveness_after(state: Liveness, ok: bool, now: float) -> Liveness:
    """Fold one probe result into ``state``: a success resets the failures."""
    if ok:
        return Liveness(state.seen_at, True, None)
    since = state.failing_since if state.failing_since is not None else now
    return Liveness(state.seen_at, state.answered, since)


def must_replace(state: Liveness, now: float, restart_after: float | None, start_timeout: float) -> bool:
    """Whether the instance has failed every probe for ``restart_after`` and must be replaced.

    Off when ``restart_after`` is None. An instance that has never answered is still starting
    until ``start_timeout`` after it was first seen: this rule leaves it alone until then."""
    if restart_after is None or state.failing_since is None:
        return False
    if not state.answered and now - state.seen_at < start_timeout:
        return False
    return now - state.failing_since >= restart_after
