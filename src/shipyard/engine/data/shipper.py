"""The life both continuous WAL shippers share (SQLite's ``engine/data/sqlite/continuous.py``, PostgreSQL's
``engine/data/postgres/continuous.py``).

A loop (``drivers/loops.py``) does ``tick_once`` every ``tick`` seconds, the first at once:
take a new base when there is none, else ship what is new. Any failure is kept in ``errors``
(the last ten) and drops the base, so the next tick starts again from a new one: a gap is
never shipped over. A failure of a kind the shipper expects (``failures``) is shown with its
text; any other by its type. ``stop`` ends the loop and, unless told to stop as a crash would
(``final=False``), ships once more; ``release`` then lets go of what the shipper holds (a read
transaction, a receiver process).
"""

from __future__ import annotations

from shipyard.core.loops import LONG_RUNS_S
from shipyard.drivers.loops import Life, Loop, LoopOwner


class ShipperLoop(LoopOwner):
    failures: tuple[type[BaseException], ...] = (OSError,)

    def __init__(self, name: str, tick: float) -> None:
        self.tick = tick
        self.base_id: str | None = None
        self._final = True
        life = Life(join_timeout=30, final=self._at_stop)
        self.loop = Loop(name, self._tick, tick, initial_delay=0.0, late_after=LONG_RUNS_S, life=life)

    # what each shipper does -------------------------------------------------------------------
    def tick_once(self) -> None:
        raise NotImplementedError

    def ship_final(self) -> None:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    # life -------------------------------------------------------------------------------------
    def start(self) -> None:
        self.loop.start()

    def stop(self, final: bool = True) -> None:
        """Stop after shipping what is there (``final=False``: at once, as a crash would)."""
        self._final = final
        self.loop.stop()

    def _shown(self, exc: Exception) -> str | None:
        return str(exc) if isinstance(exc, self.failures) else None

    def _tick(self) -> None:
        try:
            self.tick_once()
        except Exception as exc:
            self.loop.failed(exc, text=self._shown(exc))
            self.release()
            self.base_id = None  # start again from a new base: never ship over a gap

    def _at_stop(self) -> None:
        try:
            if self.base_id is not None and self._final:
                self.ship_final()
        except Exception as exc:
            self.loop.failed(exc, "at stop: ", self._shown(exc))
        self.release()
