"""Background tasks of the control plane: one lifecycle and one error record for all of them.

Two shapes, one life (start; stop wakes any sleep at once and joins with a timeout; the last
errors kept; a state a reader can snapshot):

- ``Loop``: a body run every ``period`` seconds (plus up to ``jitter``), the first time after
  ``initial_delay`` (default: one period). The body may return the delay before its next run
  (a poll loop with more to do returns 0). A body that raises is recorded and the loop goes on,
  after ``error_delay`` (a number, or a function that says it). ``wake`` runs it now.
- ``Worker``: a body run once that runs until stopped (a socket reader, a queue worker); it
  polls the ``Stopping`` it is given and records what fails with ``failed``.

Every task records its errors as ``core.loops.LoopError`` (a Shipyard error's message, an
``OSError``'s strerror, or else the exception's type name only: its text may hold anything),
and a first failure in a row is logged with its traceback. The clock, the wait and the random
source are injectable, so unit tests drive a loop without waiting. ``LoopRegistry`` gathers the
tasks of every component for ``GET /health`` and ``shipyard status``. Used by the engine's
loops (reconciler, alerting, schedulers, shippers, checkpointer, logs) and by drivers
(``proxy/accesslog.py``, ``observe/receivers.py``).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from shipyard.core.audit import one_line
from shipyard.core.loops import KEPT_ERRORS, LoopError, LoopState
from shipyard.drivers.runtime.procs import lower_thread_priority
from shipyard.errors import ShipyardError

log = logging.getLogger("shipyard.loops")
MAX_MESSAGE = 300

Clock = Callable[[], float]
Wait = Callable[[threading.Event, float], bool]  # wait on the event up to n seconds; True if set


class Stopping(Protocol):
    """What a worker's body polls: ``is_set`` once stop was asked, ``wait`` sleeps until then."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


def real_wait(event: threading.Event, seconds: float) -> bool:
    return event.wait(seconds)


def describe(exc: BaseException) -> tuple[str, str]:
    """``(kind, message)`` safe to show: no secret (a bug's text may hold anything)."""
    kind = type(exc).__name__
    if isinstance(exc, ShipyardError):
        text = exc.message
    elif isinstance(exc, OSError) and exc.strerror:
        text = f"{kind}: {exc.strerror}"
    else:
        text = f"internal error ({kind}); the control plane's log has the traceback"
    return kind, one_line(text)[:MAX_MESSAGE]


@dataclass(frozen=True)
class Life:
    """How a task lives: its stop's patience, its thread's nice value, a step run in its thread
    before its first run (``setup``) and after its last (``final``, also when stopped), the
    prefix of the failures it records itself (``where``), and its clock."""

    join_timeout: float = 5.0
    nice: int = 0
    setup: Callable[[], object] | None = None
    final: Callable[[], object] | None = None
    where: str = ""
    clock: Clock = time.time


class Task:
    """The life and the record a ``Loop`` and a ``Worker`` share."""

    period: float | None = None

    def __init__(self, name: str, life: Life) -> None:
        self.name = name
        self.life = life
        self.clock = life.clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._nudge = threading.Event()  # set by stop and wake: ends a sleep at once
        self._thread: threading.Thread | None = None
        self._errors: list[LoopError] = []
        self._failures = 0
        self._run_failed = False
        self._busy = False
        self._last_start: float | None = None
        self._last_end: float | None = None
        self._last_success: float | None = None
        self._next_run: float | None = None
        self.late_after: float | None = None

    # life -------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name=self.name, daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the task to stop and wake it; do not wait (``stop`` waits)."""
        self._stop.set()
        self._nudge.set()

    def stop(self) -> None:
        """Ask the task to stop, wake it, and wait up to its ``join_timeout`` for its thread."""
        self.request_stop()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=self.life.join_timeout)

    @property
    def stopping(self) -> Stopping:
        return self._stop

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run_here(self) -> None:
        """Run the task in the calling thread until stopped (tests, with a fake clock and wait)."""
        self._main()

    def _main(self) -> None:
        if self.life.nice:
            lower_thread_priority(self.life.nice)
        try:
            if self.life.setup is None or self._guarded(self.life.setup, self.life.where):
                self._body_loop()
        finally:
            if self.life.final is not None:
                self._guarded(self.life.final, "at stop: ")

    def _guarded(self, step: Callable[[], object], where: str) -> bool:
        try:
            step()
        except Exception as exc:
            self.failed(exc, where)
            return False
        return True

    def _body_loop(self) -> None:
        raise NotImplementedError

    # the record -------------------------------------------------------------------------------
    def failed(self, exc: BaseException, where: str = "", text: str | None = None) -> None:
        """Record a failure of the current run (``text``: a message the caller knows is safe);
        the first of a row is logged with its traceback."""
        kind, message = describe(exc)
        first = self.record(where + (message if text is None else text), kind, failure=True)
        if first:  # a bug with its traceback; a Shipyard error says enough
            trace = None if isinstance(exc, ShipyardError) else exc
            log.warning("%s: %s%s", self.name, where, message, exc_info=trace)

    def note(self, message: str) -> None:
        """Record a remark that is not a failure (HAProxy had died and was restarted, say)."""
        self.record(message)

    def record(self, message: str, kind: str = "note", failure: bool = False) -> bool:
        """Keep ``message`` (made one line); True if it is the first failure of a row."""
        with self._lock:
            first = failure and not self._run_failed and self._failures == 0
            self._run_failed = self._run_failed or failure
            error = LoopError(self.clock(), kind, one_line(message)[:MAX_MESSAGE])
            self._errors = [*self._errors[-(KEPT_ERRORS - 1) :], error]
        return first

    @property
    def errors(self) -> tuple[LoopError, ...]:
        with self._lock:
            return tuple(self._errors)

    def error_lines(self) -> list[str]:
        """The last errors as ``status`` shows them: ``<ctime>: <message>``."""
        return [e.line(time.ctime(e.at)) for e in self.errors]

    def _begin(self) -> None:
        with self._lock:
            self._busy, self._run_failed, self._next_run = True, False, None
            self._last_start = self.clock()

    def _end(self) -> None:
        with self._lock:
            now = self.clock()
            self._busy, self._last_end = False, now
            if self._run_failed:
                self._failures += 1
            else:
                self._failures, self._last_success = 0, now

    def state(self) -> LoopState:
        with self._lock:
            return LoopState(
                name=self.name,
                period=self.period,
                running=self.running,
                stopping=self._stop.is_set(),
                busy=self._busy,
                last_start=self._last_start,
                last_end=self._last_end,
                last_success=self._last_success,
                failures=self._failures,
                next_run=self._next_run,
                late_after=self.late_after,
                errors=tuple(self._errors),
            )


class Loop(Task):
    """A body run every ``period`` seconds until stopped (see the module's docstring)."""

    def __init__(
        self,
        name: str,
        body: Callable[[], float | None],
        period: float,
        *,
        jitter: float = 0.0,
        initial_delay: float | None = None,
        error_delay: float | Callable[[], float] | None = None,
        late_after: float | None = None,
        life: Life = Life(),
        wait: Wait = real_wait,
        rand: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(name, life)
        self.body = body
        self.period = self.every = period
        self.jitter = jitter
        self.initial_delay = period if initial_delay is None else initial_delay
        self.error_delay = error_delay
        self.late_after = late_after
        self.wait = wait
        self.rand = rand

    def wake(self) -> None:
        """Run the body now (or as soon as the run in progress ends)."""
        self._nudge.set()

    def delay(self, asked: float | None) -> float:
        """The sleep before the next run: what the body asked, else the period plus jitter."""
        if asked is not None:
            return max(0.0, asked)
        return self.every + (self.jitter * self.rand() if self.jitter > 0 else 0.0)

    def _sleep(self, seconds: float) -> bool:
        """Sleep ``seconds`` (a wake or stop ends it); True when the loop is to stop."""
        with self._lock:
            self._next_run = None if self._stop.is_set() else self.clock() + seconds
        if seconds > 0 and not self._stop.is_set():
            self.wait(self._nudge, seconds)
        if not self._stop.is_set():
            self._nudge.clear()
        return self._stop.is_set()

    def _body_loop(self) -> None:
        pause = self.initial_delay
        while not self._sleep(pause):
            self._begin()
            asked: float | None = None
            try:
                asked = self.body()
            except Exception as exc:  # one bad run does not end the loop; it is recorded
                self.failed(exc, self.life.where)
                asked = self.error_delay() if callable(self.error_delay) else self.error_delay
            finally:
                self._end()
            pause = self.delay(asked)


class Worker(Task):
    """A body that runs until stopped (see the module's docstring); ``period`` is None."""

    def __init__(
        self,
        name: str,
        body: Callable[[Stopping], None],
        life: Life = Life(),
    ) -> None:
        super().__init__(name, life)
        self.body = body

    def succeeded(self) -> None:
        """A unit of work went well: the failures in a row start again from zero."""
        with self._lock:
            self._failures, self._run_failed, self._last_success = 0, False, self.clock()

    def record(self, message: str, kind: str = "note", failure: bool = False) -> bool:
        first = super().record(message, kind, failure)
        if failure:
            with self._lock:
                self._failures += 1
        return first

    def _body_loop(self) -> None:
        with self._lock:
            self._busy, self._last_start = True, self.clock()
        try:
            self.body(self._stop)
        except Exception as exc:  # recorded; the state says it stopped by itself
            self.failed(exc, self.life.where)
        finally:
            with self._lock:
                self._busy, self._last_end = False, self.clock()


class LoopOwner:
    """A component that runs one loop (``self.loop``): its stop, its loops for the registry and
    its error lines (``errors``, as ``status`` shows them)."""

    loop: Loop

    def stop(self) -> None:
        self.loop.stop()

    def loops(self) -> list[Task]:
        return [self.loop]

    @property
    def errors(self) -> list[str]:
        return self.loop.error_lines()


Source = Callable[[], Iterable[Task]]


def stop_all(tasks: Iterable[Task]) -> None:
    """Stop tasks together: all are asked first, then each is waited for."""
    tasks = list(tasks)
    for task in tasks:
        task.request_stop()
    for task in tasks:
        task.stop()


class LoopRegistry:
    """The tasks of every component, read by ``GET /health`` and ``shipyard status``.

    A component adds a source (a function returning its tasks now: the WAL shippers and the
    access-log connections come and go) where it is wired."""

    def __init__(self) -> None:
        self._sources: list[Source] = []

    def add(self, source: Source) -> None:
        self._sources.append(source)

    def tasks(self) -> list[Task]:
        return [task for source in self._sources for task in source()]

    def states(self) -> tuple[LoopState, ...]:
        return tuple(task.state() for task in self.tasks())

    def errors(self, name: str) -> list[str]:
        """The error lines of the tasks called ``name`` (``status``' ``reconciler_errors``)."""
        return [line for task in self.tasks() if task.name == name for line in task.error_lines()]
