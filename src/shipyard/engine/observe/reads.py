"""What the API reads of observability, and the silences it changes: ``GET /health`` and
``/metrics``, the metrics, alerts, silences and deliveries. ``server/observe.py`` and
``server/prometheus.py`` call it as ``Engine.observe``, so no route reaches the store or context.
"""

from __future__ import annotations

import time
from typing import Any

from shipyard.core.alerts import Alert
from shipyard.core.metrics import Point
from shipyard.core.records import Instance
from shipyard.core.routing import Silence
from shipyard.drivers.loops import LoopRegistry
from shipyard.engine.context import Context
from shipyard.engine.data.database import AppDatabases
from shipyard.engine.delivery.healthwatch import Last, health_report
from shipyard.engine.observe.alerting import Alerting
from shipyard.engine.observe.metrics import snapshot


class Observations:
    def __init__(
        self, ctx: Context, databases: AppDatabases, alerting: Alerting | None, loops: LoopRegistry
    ) -> None:
        self._ctx = ctx
        self._databases = databases  # for /health's round trip to each environment's database
        self._loops = loops
        self._store = ctx.store.observe
        self.alerting = alerting  # None when the alerting loop is off (tests)

    # the control plane's own figures ---------------------------------------------------------
    def health(self, version: str) -> dict[str, Any]:
        """``GET /health``'s document."""
        watch = self.alerting.health if self.alerting else None
        return health_report(self._ctx, self._databases, watch, version, self._loops.states())

    def app(self) -> str:
        return self._ctx.manifest.app

    def proxy_running(self) -> bool:
        return self._ctx.proxy.is_running()

    def access_lines(self) -> int:
        """HAProxy per-request log lines received since the control plane started."""
        return self._ctx.traffic.received

    def interval(self) -> float:
        """``alerts.interval``: how often figures are evaluated and stored."""
        return self._ctx.manifest.alerts.interval

    # figures -------------------------------------------------------------------------------
    def snapshot(self, window: float, now: float) -> list[Point]:
        """Every series now, over the last ``window`` seconds (what ``/metrics`` serves)."""
        usage = self.alerting.usage if self.alerting else {}
        return snapshot(self._ctx, usage, window, now)

    def last_probes(self, env: str) -> list[tuple[Instance, Last | None]]:
        """Each live instance of ``env`` with its last health probe (None before the first)."""
        watch = self.alerting.health if self.alerting else None
        return [(i, watch.last.get(i.id) if watch else None) for i in self._ctx.live_instances(env)]

    def points(self, env: str, since: float, resolution: int) -> list[dict[str, Any]]:
        return self._store.points(env, since, resolution)

    def health_history(self, env: str, limit: int) -> list[dict[str, Any]]:
        return self._store.health_history(env, limit)

    # alerts and their routing --------------------------------------------------------------
    def alerts(self) -> list[Alert]:
        return self._store.alerts()

    def deliveries(self, limit: int) -> list[dict[str, Any]]:
        return self._store.deliveries(limit)

    def silences(self) -> list[Silence]:
        return self._store.silences()

    def silence(self, silence_id: int) -> Silence | None:
        return next((s for s in self._store.silences() if s.id == silence_id), None)

    def add_silence(self, matchers: dict[str, str], seconds: float, by: str, comment: str) -> int:
        return self._store.add_silence(matchers, time.time() + seconds, by, comment)

    def expire_silence(self, silence_id: int) -> None:
        self._store.expire_silence(silence_id)
