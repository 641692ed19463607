"""The state store's background checkpointer (``engine/checkpoints.py``): it keeps checkpointing
after a failure, and stops when asked."""

from __future__ import annotations

import threading

from shipyard.engine.checkpoints import Checkpointer
from shipyard.errors import StateError


def test_a_failed_checkpoint_is_recorded_and_the_next_one_runs() -> None:
    calls: list[int] = []
    again = threading.Event()

    def checkpoint() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise StateError("database is locked", "")
        again.set()

    loop = Checkpointer(checkpoint, period=0.01)
    loop.start()
    try:
        assert again.wait(10), "no checkpoint ran after the failed one"
    finally:
        loop.stop()
    assert len(calls) >= 2
    assert "database is locked" in loop.errors[0]
    assert not loop.loop.running


def test_stop_before_start_is_harmless() -> None:
    Checkpointer(lambda: None).stop()
