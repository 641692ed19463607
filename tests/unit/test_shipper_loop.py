"""The life both WAL shippers share (``engine/data/shipper.py``): a failed tick lets go of what
the shipper holds and drops its base (a gap is never shipped over), whatever the failure, and
the loop goes on; an expected failure is shown with its text, any other by its type only."""

from __future__ import annotations

import threading

from shipyard.engine.data.shipper import ShipperLoop
from shipyard.errors import BackupError


class Scripted(ShipperLoop):
    failures = (BackupError,)

    def __init__(self, outcomes: list[BaseException | None]) -> None:
        super().__init__("wal-shipper-dev", 0.001)
        self.outcomes = outcomes
        self.calls: list[str] = []
        self.done = threading.Event()

    def tick_once(self) -> None:
        if not self.outcomes:
            self.done.set()
            return
        outcome = self.outcomes.pop(0)
        self.calls.append("tick")
        if outcome is not None:
            raise outcome
        self.base_id = "b1"

    def ship_final(self) -> None:
        self.calls.append("final")

    def release(self) -> None:
        self.calls.append("release")


def test_a_failed_tick_drops_the_base_and_the_next_ticks_go_on() -> None:
    shipper = Scripted([None, BackupError("the segment is cut", ""), None, KeyError("password"), None])
    shipper.start()
    assert shipper.done.wait(10)
    shipper.stop()
    assert shipper.calls == [
        "tick",
        "tick",
        "release",  # the expected failure: let go, and start from a new base
        "tick",
        "tick",
        "release",  # a bug too: never ship over the gap it may have left
        "tick",
        "final",  # stopped: what is there is shipped once more
        "release",
    ]
    assert [e.split(": ", 1)[1] for e in shipper.errors] == [
        "the segment is cut",
        "internal error (KeyError); the control plane's log has the traceback",
    ]
    assert "password" not in " ".join(shipper.errors)


def test_stopped_as_a_crash_would_it_does_not_ship_again() -> None:
    shipper = Scripted([None])
    shipper.start()
    assert shipper.done.wait(10)
    shipper.stop(final=False)
    assert shipper.calls == ["tick", "release"]
    assert not shipper.loop.running
