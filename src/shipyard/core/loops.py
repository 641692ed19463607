"""What a background loop's state says: failing, overdue, or well (pure).

``drivers/loops.py`` runs the control plane's background tasks (the reconciler, alerting, the
backup and drill schedulers, the WAL shippers and checkpointer, the log threads, the access-log
reader, the notification workers) and snapshots each one's state as a ``LoopState``;
``core/health_report.py`` turns the states into checks of ``GET /health`` with ``loop_problem``.
"""

from __future__ import annotations

from dataclasses import dataclass

KEPT_ERRORS = 10  # a loop keeps its last ten errors
LATE_MIN_S = 60.0  # a periodic loop is overdue this long after its next run was due, at least
LATE_PERIODS = 10  # ... or this many periods, whichever is longer
LONG_RUNS_S = 3600.0  # the slack of loops whose runs take a backup, a drill or a new base


@dataclass(frozen=True)
class LoopError:
    at: float  # wall-clock time
    kind: str  # the exception's type name ("note" for a remark that is not an exception)
    message: str  # one line, never a secret: a Shipyard error's message, else the type's name

    def line(self, when: str) -> str:
        """As the ``errors`` lists of ``status`` show it, with ``when`` the formatted time."""
        return f"{when}: {self.message}"


@dataclass(frozen=True)
class LoopState:
    name: str
    period: float | None  # None: a task that runs until stopped (a socket reader, a queue worker)
    running: bool  # its thread is alive
    stopping: bool  # it was asked to stop (a loop that ends by itself is not)
    busy: bool  # its body runs right now
    last_start: float | None = None  # the last run's start (a worker: its thread's start)
    last_end: float | None = None
    last_success: float | None = None
    failures: int = 0  # consecutive failed runs
    next_run: float | None = None  # when the next run is due (None: running now, or a worker)
    late_after: float | None = None  # how late is overdue (None: the default)
    errors: tuple[LoopError, ...] = ()


def overdue_by(state: LoopState, now: float) -> float:
    """Seconds past the time a periodic loop's next run should have started, beyond its slack."""
    if state.period is None or not state.running:
        return 0.0
    due = state.next_run
    if state.busy and state.last_start is not None:
        due = state.last_start + state.period  # the run in progress holds up the next one
    if due is None:
        return 0.0
    slack = state.late_after if state.late_after is not None else max(LATE_MIN_S, LATE_PERIODS * state.period)
    return max(0.0, now - due - slack)


def loop_problem(state: LoopState, now: float) -> str | None:
    """Why the loop is not well (a *warn* of ``/health``), or None. No message text: a kind only."""
    if not state.running and not state.stopping and state.last_start is not None:
        return "stopped by itself" + (f" after {state.errors[-1].kind}" if state.errors else "")
    if state.failures:
        last = state.errors[-1].kind if state.errors else "an error"
        runs = "run" if state.failures == 1 else "runs"
        return f"{state.failures} failed {runs} in a row, the last with {last}"
    if late := overdue_by(state, now):
        return f"overdue by {late:.0f}s (runs every {state.period:g}s)"
    return None
