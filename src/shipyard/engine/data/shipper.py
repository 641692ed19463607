"""The life both continuous WAL shippers share (SQLite's ``engine/data/sqlite/continuous.py``, PostgreSQL's
``engine/data/postgres/continuous.py``).

A thread does ``tick_once`` every ``tick`` seconds: take a new base when there is none, else
ship what is new. Any failure is kept in ``errors`` (the last ten) and drops the base, so the
next tick starts again from a new one: a gap is never shipped over. ``stop`` ends the loop
and, unless told to stop as a crash would (``final=False``), ships once more; ``release``
then lets go of what the shipper holds (a read transaction, a receiver process).
"""

from __future__ import annotations

import threading
import time


class ShipperLoop:
    failures: tuple[type[BaseException], ...] = (OSError,)

    def __init__(self, name: str, tick: float) -> None:
        self.tick = tick
        self.errors: list[str] = []
        self.base_id: str | None = None
        self._stop = threading.Event()
        self._final = True
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    # what each shipper does -------------------------------------------------------------------
    def tick_once(self) -> None:
        raise NotImplementedError

    def ship_final(self) -> None:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    # life -------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, final: bool = True) -> None:
        """Stop after shipping what is there (``final=False``: at once, as a crash would)."""
        self._final = final
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _note(self, exc: BaseException, when: str = "") -> None:
        self.errors = [*self.errors[-9:], f"{time.ctime()}: {when}{exc}"]

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick_once()
            except self.failures as exc:
                self._note(exc)
                self.release()
                self.base_id = None  # start again from a new base: never ship over a gap
            self._stop.wait(self.tick)
        try:
            if self.base_id is not None and self._final:
                self.ship_final()
        except self.failures as exc:
            self._note(exc, "at stop: ")
        self.release()
