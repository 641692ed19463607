"""Health gating and restart backoff decisions."""

from __future__ import annotations

import pytest

from shipyard.core.instance_health import HealthState, observe, restart_delay


def run(results: list[bool], healthy_after: int = 2, unhealthy_after: int = 3) -> HealthState:
    state = HealthState()
    for ok in results:
        state = observe(state, ok, healthy_after, unhealthy_after)
    return state


@pytest.mark.parametrize(
    ("results", "healthy", "unhealthy"),
    [
        ([True], False, False),  # one lucky success is not health
        ([True, True], True, False),
        ([True, False, True], False, False),  # successes must be consecutive
        ([False, False, False, False], False, False),  # a booting instance is not "unhealthy"
        ([True, True, False, False], True, False),
        ([True, True, False, False, False], False, True),
        ([True, True, False, False, True], True, False),  # failures reset by a success
    ],
)
def test_observe(results: list[bool], healthy: bool, unhealthy: bool) -> None:
    state = run(results)
    assert (state.healthy, state.unhealthy) == (healthy, unhealthy)


@pytest.mark.parametrize(
    ("restarts", "delay"), [(0, 0.5), (1, 1.0), (2, 2.0), (5, 16.0), (6, 30.0), (50, 30.0)]
)
def test_restart_delay_doubles_up_to_a_cap(restarts: int, delay: float) -> None:
    assert restart_delay(restarts) == delay
