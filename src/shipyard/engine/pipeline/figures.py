"""The delivery figures of an environment (``shipyard stats``, and the same as alert metrics).

Reads the environment's deployments, its releases' creation times and the git commits their
builds recorded (``state/pipelines.py``), and hands them to the pure computation
(``core/pipeline/figures.py``). ``register_facts`` makes the figures over the last
``FACT_WINDOW`` platform facts, so alert rules and ``GET /metrics`` see them
(``deploy_success_rate < 95%``). Called by the API (``server/pipeline.py``) and the
composition root.
"""

from __future__ import annotations

import time
from functools import partial

from shipyard.core.pipeline.figures import Delivery, Figures, compute
from shipyard.core.records import Deployment
from shipyard.engine.context import Context
from shipyard.engine.shared import PlatformFacts
from shipyard.errors import NotFoundError

FACT_WINDOW = 30 * 86400.0
LIVE_STEPS = ("switch", "rollout")  # traffic reached the release once one of these began
FACTS = {  # fact (alert metric) -> field of Figures
    "deploy_success_rate": "success_rate",
    "change_failure_rate": "change_failure_rate",
    "lead_time": "lead_time",
    "time_to_restore": "time_to_restore",
}


class DeliveryFigures:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._last: tuple[tuple[str, int], Figures] | None = None

    def envs(self) -> list[str]:
        return list(self.ctx.manifest.environments)

    def figures(self, env: str, since_s: float, now: float | None = None) -> Figures:
        """``env``'s figures over the last ``since_s`` seconds."""
        if env not in self.ctx.manifest.environments:
            raise NotFoundError(
                f"environment {env!r} is not in shipyard.yaml",
                f"pick one of {', '.join(self.ctx.manifest.environments)}",
            )
        now = time.time() if now is None else now
        store = self.ctx.store
        releases = {r.id: r for r in store.releases()}
        commits = store.pipelines.commits()

        def delivery(dep: Deployment) -> Delivery:
            release = releases.get(dep.release_id or "")
            build = (release.base_release or release.id) if release else None
            commit = commits.get(build or "") or commits.get(dep.release_id or "")
            return Delivery(
                id=dep.id,
                kind=dep.kind,
                status=dep.status,
                release=dep.release_id,
                from_release=dep.from_release,
                started_at=dep.started_at,
                finished_at=dep.finished_at,
                went_live=any(s.name in LIVE_STEPS for s in dep.steps),
                committed_at=commit["committed_at"] if commit else None,
                created_at=releases[build].created_at if build in releases else None,
            )

        deps = [delivery(d) for d in store.deployments(env, limit=1_000_000)]
        return compute(env, deps, now - since_s, now)

    def register_facts(self, facts: PlatformFacts) -> None:
        """The figures of the last 30 days as platform facts (alert metrics, ``/metrics``)."""
        for name in FACTS:
            facts.register(name, partial(self._fact, name=name))

    def _fact(self, env: str, now: float, *, name: str) -> float | None:
        """One figure, computed once per environment and second for all four facts."""
        key = (env, int(now))
        if self._last is None or self._last[0] != key:
            self._last = (key, self.figures(env, FACT_WINDOW, now))
        value = getattr(self._last[1], FACTS[name])
        return None if value is None else float(value)
