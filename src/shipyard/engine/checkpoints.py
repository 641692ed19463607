"""The state store's WAL checkpointer: a thread the engine starts with itself.

SQLite's automatic checkpoint runs inside the commit that crosses its threshold, so one
API request in a few hundred (a secret read with its audit row, say) paid for copying the
whole WAL back into the database file. The store turns that off for its connections
(``state/store.py``), and this loop checkpoints every ``period`` seconds instead, in
PASSIVE mode: it neither waits for nor blocks readers and writers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("shipyard.checkpoints")
PERIOD_S = 1.0


class Checkpointer:
    def __init__(self, checkpoint: Callable[[], object], period: float = PERIOD_S) -> None:
        self.checkpoint = checkpoint
        self.period = period
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="checkpointer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.checkpoint()
            except Exception as exc:  # a failed checkpoint loses nothing: the next one retries
                self.errors = [*self.errors[-9:], repr(exc)]
                log.exception("checkpoint of the state store failed")
