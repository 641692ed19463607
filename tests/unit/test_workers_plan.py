"""The workers rule (``core/workers.py``): they run for the serving release, in its colour,
as many as the manifest says; everything else is stopped."""

from __future__ import annotations

import pytest

from shipyard.core.records import Instance, Route
from shipyard.core.workers import plan_workers


def worker(id: int, process: str, colour: str, slot: int, release: str) -> Instance:
    return Instance(id, "dev", colour, slot, release, None, None, "running", 0, 0.0, process)  # type: ignore[arg-type]


SERVING = Route("dev", "green", "r2", "blue", "r1")


def test_nothing_deployed_runs_no_worker() -> None:
    live = [worker(1, "queue", "blue", 0, "r1")]
    plan = plan_workers(Route("dev"), {"queue": 1}, live)
    assert plan.start == [] and plan.stop == live


def test_the_serving_release_gets_its_workers_and_the_standby_none() -> None:
    old = worker(1, "queue", "blue", 0, "r1")  # the standby release's: stopped
    kept = worker(2, "queue", "green", 0, "r2")
    plan = plan_workers(SERVING, {"queue": 2, "mailer": 1}, [old, kept])
    assert plan.stop == [old]
    assert plan.start == [("queue", 1), ("mailer", 0)]


@pytest.mark.parametrize(
    ("wanted", "stopped"),
    [
        ({"queue": 1}, [2]),  # fewer wanted: the extra slot stops
        ({}, [1, 2]),  # the process left the manifest (or 0 in this environment)
        ({"queue": 2}, []),
    ],
)
def test_counts_follow_the_manifest(wanted: dict[str, int], stopped: list[int]) -> None:
    live = [worker(1, "queue", "green", 0, "r2"), worker(2, "queue", "green", 1, "r2")]
    plan = plan_workers(SERVING, wanted, live)
    assert [i.id for i in plan.stop] == stopped
    assert plan.start == []


def test_a_duplicate_slot_is_stopped_and_a_converged_plan_is_empty() -> None:
    first, twin = worker(1, "queue", "green", 0, "r2"), worker(2, "queue", "green", 0, "r2")
    assert plan_workers(SERVING, {"queue": 1}, [first, twin]).stop == [twin]
    assert plan_workers(SERVING, {"queue": 1}, [first]).empty
