"""The one loop of every background task (``drivers/loops.py``): its schedule (period, initial
delay, jitter, the body's own delay, wake), its stop, its error record and its state, driven by a
fake clock and wait; and a few runs on real threads (stop and wake end a sleep at once)."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable

import pytest

from shipyard.core.loops import KEPT_ERRORS, LoopState
from shipyard.drivers.loops import Life, Loop, LoopRegistry, Stopping, Worker, describe
from shipyard.errors import StateError


def wait_until(done: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + 10
    while not done() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert done(), what


class FakeTime:
    """A clock that a wait moves forward; it records every wait asked for."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def wait(self, event: threading.Event, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return event.is_set()


def fake_loop(body_runs: int, body: object = None, **kw: object) -> tuple[Loop, FakeTime, list[float]]:
    """A loop on a fake clock whose body notes its start times and stops after ``body_runs``."""
    fake = FakeTime()
    starts: list[float] = []
    holder: list[Loop] = []

    def run() -> float | None:
        starts.append(fake.now)
        if len(starts) >= body_runs:
            holder[0].request_stop()
        return body() if callable(body) else None

    loop = Loop("test", run, kw.pop("period", 5.0), life=Life(clock=fake.clock), wait=fake.wait, **kw)  # type: ignore[arg-type]
    holder.append(loop)
    return loop, fake, starts


def test_runs_every_period_after_one_period_by_default() -> None:
    loop, fake, starts = fake_loop(4, period=5.0)
    loop.run_here()
    assert starts == [1005.0, 1010.0, 1015.0, 1020.0]
    assert fake.waits == [5.0, 5.0, 5.0, 5.0]


def test_an_initial_delay_of_zero_runs_at_once_and_the_body_may_ask_for_its_next_delay() -> None:
    asked = iter([0.0, 0.2, None])
    loop, _fake, starts = fake_loop(4, body=lambda: next(asked, None), period=5.0, initial_delay=0.0)
    loop.run_here()
    assert starts == [1000.0, 1000.0, 1000.2, 1005.2]


@pytest.mark.parametrize("draw", [0.0, 0.25, 0.999])
def test_jitter_adds_at_most_the_jitter(draw: float) -> None:
    loop, fake, _starts = fake_loop(3, period=10.0, jitter=2.0, rand=lambda: draw)
    loop.run_here()
    assert fake.waits[1:] == [pytest.approx(10.0 + 2.0 * draw)] * 2


def test_jitter_with_the_real_random_source_stays_in_bounds() -> None:
    loop = Loop("test", lambda: None, 10.0, jitter=3.0)
    delays = [loop.delay(None) for _ in range(500)]
    assert all(10.0 <= d < 13.0 for d in delays)
    assert max(delays) - min(delays) > 1.0  # it does spread the runs


def test_a_failing_body_is_recorded_and_the_loop_goes_on_after_the_error_delay() -> None:
    outcomes = iter([StateError("database is locked", "wait"), ValueError("x"), None, None])

    def body() -> None:
        if (exc := next(outcomes)) is not None:
            raise exc

    loop, fake, starts = fake_loop(4, body=body, period=5.0, error_delay=1.0)
    loop.run_here()
    assert len(starts) == 4  # the failures did not end it
    assert fake.waits == [5.0, 1.0, 1.0, 5.0]  # no wait once stop was asked
    state = loop.state()
    assert state.failures == 0 and state.last_success == starts[-1]
    assert [(e.kind, e.message) for e in state.errors] == [
        ("StateError", "database is locked"),
        ("ValueError", "internal error (ValueError); the control plane's log has the traceback"),
    ]
    assert loop.error_lines()[0].endswith(": database is locked")


def test_failures_in_a_row_are_counted_and_the_record_is_bounded() -> None:
    def body() -> None:
        raise StateError("locked", "")

    loop, _fake, _starts = fake_loop(KEPT_ERRORS + 15, body=body, period=1.0)
    loop.run_here()
    state = loop.state()
    assert state.failures == KEPT_ERRORS + 15
    assert len(state.errors) == KEPT_ERRORS  # the last ten, with their times
    assert [e.at for e in state.errors] == sorted(e.at for e in state.errors)
    assert state.errors[-1].at == state.last_end


def test_an_error_record_holds_no_secret_and_one_line() -> None:
    kind, message = describe(RuntimeError("postgresql://app:hunter2@db/notes"))
    assert kind == "RuntimeError" and "hunter2" not in message
    assert describe(StateError("two\nlines", ""))[1] == "two\\nlines"
    assert describe(OSError(28, "No space left on device", "/srv/secret-path"))[1] == (
        "OSError: No space left on device"
    )


def test_a_note_is_kept_but_is_not_a_failure() -> None:
    loop = Loop("test", lambda: None, 1.0)
    loop.note("HAProxy had died; restarted")
    state = loop.state()
    assert state.failures == 0 and state.errors[0].kind == "note"


def test_the_state_says_when_the_next_run_is_due_and_whether_it_is_running() -> None:
    seen: list[LoopState] = []
    loop: Loop
    loop, fake, _starts = fake_loop(2, body=lambda: seen.append(loop.state()), period=5.0)
    loop.run_here()
    assert seen[0].busy and seen[0].next_run is None and seen[0].last_start == 1005.0
    assert seen[1].last_end == 1005.0 and seen[1].last_success == 1005.0
    final = loop.state()
    assert not final.busy and final.stopping and final.next_run is None and final.last_end == fake.now


def test_setup_and_final_run_in_the_loops_thread_and_a_failing_final_is_recorded() -> None:
    order: list[str] = []

    def final() -> None:
        order.append("final")
        raise StateError("could not ship at stop", "")

    loop, _fake, _starts = fake_loop(1, body=lambda: order.append("body"), period=1.0)
    loop.life = Life(setup=lambda: order.append("setup"), final=final, clock=loop.clock)
    loop.run_here()
    assert order == ["setup", "body", "final"]
    assert loop.state().errors[-1].message == "at stop: could not ship at stop"


# real threads --------------------------------------------------------------------------------
def test_stop_wakes_a_sleeping_loop_at_once() -> None:
    ran = threading.Event()
    loop = Loop("sleeper", ran.set, 3600.0, initial_delay=0.0)
    loop.start()
    assert ran.wait(10)
    wait_until(lambda: loop.state().next_run is not None, "the loop did not sleep")
    assert loop.state().next_run == pytest.approx(time.time() + 3600, abs=5)
    started = time.monotonic()
    loop.stop()
    assert time.monotonic() - started < 2.0
    assert not loop.running and loop.state().stopping


def test_wake_runs_the_body_now() -> None:
    ran = threading.Event()
    loop = Loop("sleeper", ran.set, 3600.0)
    loop.start()
    try:
        assert not ran.wait(0.2)
        loop.wake()
        assert ran.wait(5), "wake did not run the body"
    finally:
        loop.stop()


def test_stop_before_start_is_harmless() -> None:
    Loop("never", lambda: None, 1.0).stop()
    Worker("never", lambda stopping: None).stop()


def test_a_thread_keeps_its_name() -> None:
    names: list[str] = []
    loop = Loop("reconciler", lambda: names.append(threading.current_thread().name), 0.01)
    loop.start()
    try:
        wait_until(lambda: names, "the body did not run")
    finally:
        loop.stop()
    assert names[0] == "reconciler"


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice values are Linux's")
def test_nice_lowers_only_the_loops_thread() -> None:
    main_before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen: list[int] = []
    loop = Loop("low", lambda: seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id())), 0.01,
                initial_delay=0.0, life=Life(nice=3))  # fmt: skip
    loop.start()
    try:
        wait_until(lambda: seen, "the body did not run")
    finally:
        loop.stop()
    assert seen[0] == min(19, main_before + 3)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main_before


def test_a_worker_runs_until_stopped_and_counts_its_failures_until_a_success() -> None:
    def body(stopping: Stopping) -> None:
        worker.failed(StateError("one delivery failed", ""))
        worker.failed(StateError("another", ""))
        stopping.wait()

    worker = Worker("notify-0", body)
    worker.start()
    try:
        wait_until(lambda: worker.state().failures == 2, "the failures were not counted")
        state = worker.state()
        assert state.running and state.busy and state.period is None and state.failures == 2
        worker.succeeded()
        assert worker.state().failures == 0
    finally:
        worker.stop()
    assert not worker.running


def test_a_worker_whose_body_raises_ends_with_the_error_recorded() -> None:
    def body(stopping: Stopping) -> None:
        raise ConnectionResetError(104, "Connection reset by peer")

    worker = Worker("access-log", body)
    worker.start()
    worker.stop()
    state = worker.state()
    assert not state.running and state.errors[-1].kind == "ConnectionResetError"


def test_the_registry_reads_the_tasks_of_its_sources_as_they_are_now() -> None:
    shippers: dict[str, Loop] = {}
    fixed = Loop("reconciler", lambda: None, 1.0)
    fixed.failed(StateError("store locked", ""))
    registry = LoopRegistry()
    registry.add(lambda: [fixed])
    registry.add(lambda: list(shippers.values()))
    assert [s.name for s in registry.states()] == ["reconciler"]
    shippers["dev"] = Loop("wal-shipper-dev", lambda: None, 1.0)
    assert [s.name for s in registry.states()] == ["reconciler", "wal-shipper-dev"]
    assert len(registry.errors("reconciler")) == 1 and "store locked" in registry.errors("reconciler")[0]
    assert registry.errors("wal-shipper-dev") == []
