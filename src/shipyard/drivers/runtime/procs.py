"""Process identity and signalling, shared by the instance supervisor and the proxy driver,
and a lower CPU priority for a thread (the log service's).

A pid alone is not an identity (pids are reused); a pid plus its start time is.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class ProcessRef:
    pid: int
    create_time: float


def ref_of(pid: int) -> ProcessRef:
    return ProcessRef(pid, psutil.Process(pid).create_time())


def is_alive(ref: ProcessRef | None) -> bool:
    """True when the process ``ref`` names still runs (and is not a zombie)."""
    if ref is None:
        return False
    try:
        proc = psutil.Process(ref.pid)
        if abs(proc.create_time() - ref.create_time) > 0.05:
            return False
        return proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def reap(ref: ProcessRef) -> None:
    """Collect ``ref`` if it is our child and has exited, so it leaves no zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(ref.pid, os.WNOHANG)


def terminate_group(ref: ProcessRef, timeout: float) -> bool:
    """SIGTERM the process group led by ``ref``, SIGKILL it after ``timeout``.

    The whole group has ``timeout`` to exit, not only its leader: ``/bin/sh -c`` may die at
    once while the app it started still finishes its work (a worker's current task).
    Returns True when it had to be killed.
    """
    if not is_alive(ref):
        reap(ref)
        return False
    _signal_group(ref.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reap(ref)
        if not is_alive(ref) and _group_gone(ref.pid):
            return False
        time.sleep(0.05)
    _signal_group(ref.pid, signal.SIGKILL)
    for _ in range(100):
        reap(ref)
        if not is_alive(ref):
            break
        time.sleep(0.02)
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pgid, sig)


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def stored_ref(pid: int | None, create_time: float | None) -> ProcessRef | None:
    """The ProcessRef recorded in the state store, if the process was ever started."""
    return ProcessRef(pid, create_time) if pid and create_time else None


def lower_thread_priority(by: int) -> bool:
    """Raise the calling thread's nice value by ``by`` (Linux keeps one per thread), so the
    process's other threads get the cores first when they are busy. False where the system
    has no per-thread priority (the thread then runs as before)."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + by)
    except (AttributeError, OSError):
        return False
    return True
