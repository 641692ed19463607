"""The liveness watch: finds instances that are alive but have stopped answering their health check.

The reconciler calls ``LivenessWatch.hung`` every ``health.interval`` when the manifest sets
``health.restart_after``. Every running instance is probed at ``health.path`` through the
context's prober, in parallel, each bounded by ``health.timeout`` (capped at 2 s); each run of
an instance (its runtime ref) keeps a ``core.instance_health.Liveness``, and the pure rule
``must_replace`` says which to replace. Replacing them (stop, then start in the same slot, as
a crash restart) is the reconciler's business.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from shipyard.core.instance_health import Liveness, liveness_after, must_replace
from shipyard.core.records import Instance
from shipyard.engine.context import Context

PROBE_TIMEOUT_CAP_S = 2.0  # hung instances hold the reconciler's tick no longer than this
PROBES_AT_ONCE = 8


class LivenessWatch:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.runs: dict[tuple[int, str], Liveness] = {}  # (instance id, runtime ref) -> its run
        self._next_at = 0.0

    def due(self, now: float) -> bool:
        """Whether the rule is on and a probe round is due at ``now`` (monotonic seconds)."""
        health = self.ctx.manifest.health
        if health.restart_after is None or now < self._next_at:
            return False
        self._next_at = now + health.interval
        return True

    def hung(self, now: float) -> list[tuple[Instance, str]]:
        """Probe every running instance; those the rule says to replace, each with the reason."""
        ctx = self.ctx
        health = ctx.manifest.health
        timeout = min(health.timeout, PROBE_TIMEOUT_CAP_S)
        live = [
            i
            for env in ctx.manifest.environments
            for i in ctx.live_instances(env)
            if i.state == "running" and i.endpoint is not None and i.runtime_ref is not None
        ]
        with ThreadPoolExecutor(max_workers=PROBES_AT_ONCE, thread_name_prefix="liveness") as pool:
            results = list(pool.map(lambda i: ctx.prober.get(i.endpoint or "", health.path, timeout), live))
        runs: dict[tuple[int, str], Liveness] = {}
        out: list[tuple[Instance, str]] = []
        for inst, result in zip(live, results, strict=True):
            key = (inst.id, inst.runtime_ref or "")
            ok = result.ok
            run = liveness_after(self.runs.get(key) or Liveness(now), ok, now)
            runs[key] = run
            if run.failing_since is not None and must_replace(
                run, now, health.restart_after, health.start_timeout
            ):
                out.append((inst, f"not answering {health.path} for {now - run.failing_since:.0f} s"))
        self.runs = runs  # runs of instances gone or restarted are forgotten
        return out
