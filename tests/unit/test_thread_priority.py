"""``procs.lower_thread_priority``: the log service's threads yield the cores to the API's,
and only they: the nice value is the calling thread's, not the process's."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from shipyard.drivers.runtime.procs import lower_thread_priority


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice values are Linux's")
def test_only_the_calling_thread_is_lowered() -> None:
    main_before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen: list[tuple[bool, int, int]] = []

    def run() -> None:
        tid = threading.get_native_id()
        before = os.getpriority(os.PRIO_PROCESS, tid)
        lowered = lower_thread_priority(3)
        seen.append((lowered, before, os.getpriority(os.PRIO_PROCESS, tid)))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    lowered, before, after = seen[0]
    assert lowered
    assert after == min(19, before + 3)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main_before
