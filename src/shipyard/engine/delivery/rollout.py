"""Progressive delivery: a canary rollout's loop, and blue-green's analysis after the switch.

``CanaryRun`` moves an environment's traffic step by step onto the new colour,
judges each step from HAProxy's per-request figures (``TrafficBook``) with
``core.analysis``, and lets ``core.rollout`` decide: advance, hold, promote or
roll back. Before a check's end, ``engine.checks.RunningCheck`` looks at it every
quarter second and fails it at once when the new version is decisively beyond a
limit (``core.sequential``). Humans act on a running rollout through ``verb``
(the API thread); a lock keeps their verbs and the loop's checks in one order. Rolling back is a
single routing change made at once, in whichever thread decides it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from shipyard.core.analysis import Check, apply_no_data
from shipyard.core.proxy import frontend_name
from shipyard.core.records import Colour, Route
from shipyard.core.rollout import Action, describe_plan, on_check, on_verb, past_deadline, start
from shipyard.core.traffic import WindowStats
from shipyard.engine.context import Context
from shipyard.engine.delivery.checks import RunningCheck
from shipyard.manifest.models import BlueGreen, Canary

TICK = 0.1
SAMPLE_EVERY = 1.0


@dataclass(frozen=True)
class Outcome:
    phase: str  # promoted, rolled_back, aborted, failed
    reason: str


class CanaryRun:
    def __init__(
        self,
        ctx: Context,
        dep_id: int,
        env: str,
        canary: Canary,
        release_id: str,
        stable: Route,
        colour: Colour,
    ) -> None:
        self.ctx = ctx
        self.dep_id = dep_id
        self.env = env
        self.canary = canary
        self.release_id = release_id
        self.stable = stable
        self.colour = colour
        self.lock = threading.RLock()
        now = time.time()
        self.started = now
        self.state = start(canary, now)
        self.step_started = now
        self.reason = ""
        # server names are <colour>-<slot> and stay the same through restarts
        self.servers = {
            "canary": {i.name for i in ctx.store.instances(env) if i.colour == colour},
            "stable": {i.name for i in ctx.store.instances(env) if i.colour == stable.active_colour},
        }
        self.check = RunningCheck(ctx, env, self.servers["canary"], canary.analysis)

    # the loop ------------------------------------------------------------------------------
    def run(self) -> Outcome:
        ctx = self.ctx
        with self.lock:
            ctx.store.save_rollout(
                self.dep_id,
                env=self.env,
                strategy="canary",
                plan={
                    "steps": list(self.canary.steps),
                    "interval": self.canary.interval,
                    "pause_at": list(self.canary.pause_at),
                    "lines": describe_plan(self.canary),
                },
                step=0,
                weight=self.canary.steps[0],
                failures=0,
                phase=self.state.phase,
                paused_by=self.state.paused_by,
                last_progress=self.started,
                started_at=self.started,
            )
            self._set_weight(self.canary.steps[0])
        last_sample = 0.0
        while True:
            time.sleep(TICK)
            with self.lock:
                if not self.state.active:
                    break
                now = time.time()
                if now - last_sample >= SAMPLE_EVERY:
                    self._sample(now)
                    last_sample = now
                if past_deadline(self.state, self.canary, now):
                    self.state = replace(self.state, phase="failed")
                    self.reason = (
                        f"no progress for {self.canary.progress_deadline:g}s "
                        f"(progress_deadline) at {self.weight}%"
                    )
                    self._act("rollback", {})
                    break
                if now - self.check.started >= self.canary.interval:
                    self._conclude(self.check.at_end(now), now)
                elif early := self.check.look(now):
                    self._conclude(early, now)
        with self.lock:
            self._sample(time.time())
            return Outcome(self.state.phase, self.reason)

    @property
    def weight(self) -> int:
        return self.canary.steps[self.state.step]

    def _conclude(self, check: Check, now: float) -> None:
        """Record a check that ended (at the interval's end, or early), start the next one, act."""
        # HAProxy's own per-server counters over the same check, recorded next to the log's figures
        cross = self.check.restart()
        self._record_check(check, now, cross)
        self.state, action = on_check(self.state, check, self.canary, now)
        if action == "rollback":
            self.reason = f"analysis failed at {self.weight}%: {check.summary}"
        self._act(action, {"check": check.to_json(), "haproxy_counters": cross})

    # verbs ---------------------------------------------------------------------------------
    def verb(self, verb: str, by: str) -> dict[str, Any]:
        with self.lock:
            now = time.time()
            self.state, action = on_verb(self.state, verb, self.canary, now)
            if action == "rollback":
                self.reason = f"aborted by {by} at {self.weight}%"
            self.ctx.store.add_event(self.dep_id, "rollout", f"{verb} by {by}")
            self._act(action, {})
            return {"phase": self.state.phase, "weight": self.weight, "paused_by": self.state.paused_by}

    # acting --------------------------------------------------------------------------------
    def _act(self, action: Action, figures: dict[str, Any]) -> None:
        ctx = self.ctx
        if action == "advance":
            self._set_weight(self.weight)
            self.check.restart()
            self.step_started = self.check.started
            if self.state.paused_by == "pause_at":
                ctx.store.add_event(
                    self.dep_id,
                    "rollout",
                    f"paused at {self.weight}%: run `shipyard rollout promote {self.env}` to continue",
                )
        elif action == "rollback":
            decided = time.time()
            self._set_weight(0)
            zero = time.time()
            first_error = self._window("canary", self.started, zero).first_error_at
            ctx.store.save_rollout(
                self.dep_id,
                decided_at=decided,
                zero_at=zero,
                first_error_at=first_error,
                reason=self.reason,
                figures=figures,
            )
            ctx.store.add_event(
                self.dep_id,
                "rollout",
                f"{self.state.phase.replace('_', ' ')}: {self.reason}; traffic back on "
                f"{self.stable.active_release} in {(zero - decided) * 1000:.1f} ms",
                status="failed",
            )
        elif action == "promote_full":
            ctx.store.add_event(self.dep_id, "rollout", "promoted: switching all traffic")
        self._save_state()

    def _set_weight(self, weight: int) -> None:
        """Route ``weight`` percent of requests to the canary colour (0: none, instantly)."""
        ctx = self.ctx
        with ctx.locks.routing:
            route = ctx.store.route(self.env)
            if weight > 0:
                changed = route.with_canary(self.colour, self.release_id, weight)
            else:
                changed = route.without_canary()
                # held out at once, sticky clients included; the deployment drains and stops them
                for inst in ctx.live_instances(self.env, self.colour):
                    if inst.release_id == self.release_id:  # not the standby release beside it
                        ctx.store.update_instance(inst.id, state="stopping")
            ctx.store.set_route(changed)
            ctx.sync_proxy()
        if weight > 0:
            ctx.store.add_event(self.dep_id, "rollout", f"{weight}% of requests on {self.release_id}")
            ctx.hit_failpoint(f"at:{weight}%")

    def _save_state(self) -> None:
        s = self.state
        self.ctx.store.save_rollout(
            self.dep_id,
            step=s.step,
            weight=self.weight if s.phase not in ("rolled_back", "aborted", "failed") else 0,
            failures=s.failures,
            phase=s.phase,
            paused_by=s.paused_by,
            last_progress=s.last_progress,
        )

    # figures -------------------------------------------------------------------------------
    def _window(self, role: str, since: float, until: float) -> WindowStats:
        return self.ctx.traffic.window(frontend_name(self.env), self.servers[role], since, until)

    def _sample(self, now: float) -> None:
        rows = []
        for role, release in (("canary", self.release_id), ("stable", self.stable.active_release)):
            stats = self._window(role, self.step_started, now)
            rows.append(
                {
                    "at": now,
                    "step": self.state.step,
                    "weight": self.weight if self.state.active or self.state.phase == "promoted" else 0,
                    "role": role,
                    "release_id": release,
                    "requests": stats.requests,
                    "errors": stats.errors,
                    "rps": stats.rps,
                    "p50_ms": stats.p50_ms,
                    "p95_ms": stats.p95_ms,
                    "p99_ms": stats.p99_ms,
                }
            )
        self.ctx.store.add_samples(self.dep_id, rows)

    def _record_check(self, check: Check, now: float, counters: dict[str, int]) -> None:
        record_check(
            self.ctx,
            self.dep_id,
            now,
            self.state.step,
            self.weight,
            check,
            {"haproxy_counters": counters},
            f"{self.weight}%: ",
        )


def watch_after_switch(
    ctx: Context, dep_id: int, env: str, settings: BlueGreen, colour: Colour
) -> str | None:
    """Blue-green's analysis window: checks of the new colour; the failure reason, or None."""
    analysis = settings.analysis
    assert analysis is not None
    servers = {i.name for i in ctx.store.instances(env) if i.colour == colour}
    running = RunningCheck(ctx, env, servers, analysis)
    started = running.started
    failures = 0
    while time.time() - started < settings.analysis_window:
        time.sleep(TICK)
        now = time.time()
        if now - running.started >= settings.analysis_interval:
            check: Check | None = apply_no_data(running.at_end(now), analysis)
        else:
            check = running.look(now)
        if check is None:
            continue
        running.restart()
        record_check(ctx, dep_id, now, 0, 100, check)
        if check.result == "failed":
            failures += 1
            if failures > analysis.failure_limit:
                return f"analysis failed after the switch: {check.summary}"
    return None


def record_check(
    ctx: Context,
    dep_id: int,
    now: float,
    step: int,
    weight: int,
    check: Check,
    extra: dict[str, Any] | None = None,
    prefix: str = "",
) -> None:
    """Store one finished check (for later inspection) and show it as a deployment event."""
    ctx.store.add_check(
        dep_id,
        {
            "at": now,
            "step": step,
            "weight": weight,
            "result": check.result,
            "summary": check.summary,
            "figures": check.to_json() | (extra or {}),
        },
    )
    status = {"passed": "ok", "failed": "failed"}.get(check.result, "info")
    ctx.store.add_event(dep_id, "analysis", f"{prefix}{check.result}: {check.summary}", status)
