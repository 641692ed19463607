"""One colour's running analysis check: its figures at the end, and early looks before it.

``RunningCheck`` is used by the canary loop (``CanaryRun``) and blue-green's analysis window
(``watch_after_switch``), both in ``engine/delivery/rollout.py``. At the end of an interval it judges
the window with ``core.analysis.evaluate``; every ``LOOK_EVERY`` before that, it asks
``core.analysis.evaluate_early`` whether the colour is already decisively beyond a limit.
An early look counts the requests logged so far and, as their total, HAProxy's count of
requests sent to the colour since the check began, so requests still in flight count as good.
"""

from __future__ import annotations

import math
import time

from shipyard.core.analysis import Check, evaluate, evaluate_early
from shipyard.core.proxy import backend_names, frontend_name
from shipyard.core.traffic import BUCKETS_PER_SECOND, WindowStats
from shipyard.engine.context import Context
from shipyard.errors import ShipyardError
from shipyard.manifest.models import Analysis

LOOK_EVERY = 1 / BUCKETS_PER_SECOND  # one early look per new bucket of the traffic book


class RunningCheck:
    def __init__(self, ctx: Context, env: str, servers: set[str], analysis: Analysis) -> None:
        self.ctx = ctx
        self.env = env
        self.servers = servers
        self.analysis = analysis
        self.counters = self.read_counters()
        self.started = self.last_look = time.time()

    def restart(self) -> dict[str, int]:
        """Begin the next check; HAProxy's own counters over the one that ends, as a cross-check."""
        counters = self.read_counters()
        before, self.counters = self.counters, counters
        self.started = self.last_look = time.time()  # after the counters: they cover every look
        return {"requests": counters[0] - before[0], "errors_5xx": counters[1] - before[1]}

    def at_end(self, now: float) -> Check:
        """The check of the whole interval, as it ends at ``now``."""
        return evaluate(self.window(self.started, now), self.analysis)

    def look(self, now: float) -> Check | None:
        """An early look, at most every ``LOOK_EVERY``: a failed check, or None (it goes on)."""
        if now - self.last_look < LOOK_EVERY:
            return None
        self.last_look = now
        stats = self.window(*early_window(self.started, now))
        sent = self.read_counters()[0] - self.counters[0]  # read after the log's figures
        return evaluate_early(stats, sent, self.analysis)

    def window(self, since: float, until: float) -> WindowStats:
        return self.ctx.traffic.window(frontend_name(self.env), self.servers, since, until)

    def read_counters(self) -> tuple[int, int]:
        """HAProxy's request and 5xx counters summed over the colour's servers (0, 0 if unknown)."""
        try:
            states = self.ctx.proxy.server_states()
        except ShipyardError:
            return (0, 0)
        mine = [s for s in states if s.backend in backend_names(self.env) and s.name in self.servers]
        return (sum(s.requests_total for s in mine), sum(s.responses_5xx for s in mine))


def early_window(started: float, now: float) -> tuple[float, float]:
    """The accept times an early look counts: from the first whole bucket after the check began
    (so the counters read at its start cover all of them) up to and with the bucket filling now."""
    first = math.ceil(started * BUCKETS_PER_SECOND) / BUCKETS_PER_SECOND
    return first, now + 1 / BUCKETS_PER_SECOND
