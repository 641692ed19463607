"""The state store's WAL checkpointer: a loop the engine starts with itself.

SQLite's automatic checkpoint runs inside the commit that crosses its threshold, so one
API request in a few hundred (a secret read with its audit row, say) paid for copying the
whole WAL back into the database file. The store turns that off for its connections
(``state/store.py``), and this loop checkpoints every ``period`` seconds instead, in
PASSIVE mode: it neither waits for nor blocks readers and writers. A failed checkpoint
loses nothing: it is recorded (``errors``) and the next one retries.
"""

from __future__ import annotations

from collections.abc import Callable

from shipyard.drivers.loops import Loop, LoopOwner

PERIOD_S = 1.0


class Checkpointer(LoopOwner):
    def __init__(self, checkpoint: Callable[[], object], period: float = PERIOD_S) -> None:
        self.checkpoint = checkpoint
        self.period = period
        self.loop = Loop("checkpointer", self._run, period)

    def start(self) -> None:
        self.loop.start()

    def _run(self) -> None:
        self.checkpoint()
