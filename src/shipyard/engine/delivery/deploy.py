"""A blue-green deployment, step by step, each step recorded with its timing and outcome.

Run by ``Engine`` in a thread per deployment while the environment's lock is held. Until the
switch, nothing touches the serving colour, nor the release that stands by in the other colour for
an instant rollback: the new release starts beside it (other slots of that colour's backend,
``core.layout``), and it is stopped only once the new release is switched in. Any failure stops
only the new instances; the old version keeps serving, the standby one ready to take over. Workers
(``workers.py``) start before the switch, old ones stop in the drain step; ``verify`` comes last.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from shipyard.core.instance_health import HealthState, observe
from shipyard.core.records import Colour, Instance, NewInstance, Release, Route, other
from shipyard.engine.context import Context
from shipyard.engine.data.database import AppDatabases
from shipyard.engine.data.migrations import Migrations
from shipyard.engine.delivery.config import with_config
from shipyard.engine.delivery.instances import (
    failed_with_output,
    start_instance,
    stop_instances,
    wait_drained,
    wait_proxy_up,
)
from shipyard.engine.delivery.promotion import prepare_existing
from shipyard.engine.delivery.rollout import CanaryRun, Outcome, watch_after_switch
from shipyard.engine.delivery.workers import converge_workers, start_workers
from shipyard.engine.pipeline.gate import BuildGate
from shipyard.errors import DeployError, ShipyardError
from shipyard.manifest.models import BlueGreen, Canary

T = TypeVar("T")


class StepFailed(Exception):
    def __init__(self, error: ShipyardError) -> None:
        self.error = error


class Deployment:
    def __init__(
        self,
        ctx: Context,
        databases: AppDatabases,
        migrations: Migrations,
        dep_id: int,
        env: str,
        release_id: str | None,
        kind: str = "deploy",
    ) -> None:
        self.ctx = ctx
        self.databases = databases
        self.migrations = migrations
        self.dep_id = dep_id
        self.env = env
        self.release_id = release_id
        self.kind = kind  # deploy, promote, rollback...: a rollback keeps its release's configuration
        self.new_colour: Colour | None = None
        self.kept: set[int] = set()  # the standby release's instances in the new colour
        self.pipelines: BuildGate | None = None  # a new build's commit, and its "pipeline" step

    # running -------------------------------------------------------------------------------
    def run(self) -> None:
        store = self.ctx.store
        try:
            release = self._step("build", self._build)
            if (gate := self.pipelines) is not None and self.release_id is None and gate.built(release):
                self._step("pipeline", lambda: gate.gate_new_build(release, self.note))
            route = store.route(self.env)
            self.new_colour = other(route.active_colour) if route.active_colour else "blue"
            self._step("prepare", lambda: self._prepare(route))
            self._step("database", lambda: self.databases.prepare(self.env))
            self._migrate(release)
            new = self._step("start", lambda: self._start(release))
            self._step("health", lambda: self._wait_healthy(new))
            self._step("smoke", lambda: self._smoke(new))
            settings = self.ctx.manifest.strategy_for(self.env)
            if isinstance(settings, Canary) and route.active_colour is not None:
                wait_proxy_up(self.ctx, self.env, self.new_colour, new)
                outcome = self._step("rollout", lambda: self._canary(settings, release, route))
                if outcome.phase != "promoted":
                    self._retire(outcome)
                    return
            if any(self.ctx.manifest.workers(self.env).values()):
                self._step("workers", lambda: self._start_workers(release))
            self._step("switch", lambda: self._switch(release, route))
            self._step("drain", lambda: self._drain(route))
            if isinstance(settings, BlueGreen) and settings.analysis and route.active_colour:
                failure = self._step("analysis", lambda: self._analyse(settings))
                if failure:
                    self._switch_back(route, failure)
                    return
            if gate is not None:  # a failed check stops promotion onward, not this deployment
                gate.verify(self.dep_id, self.env, release, self.note)
            store.finish_deployment(self.dep_id, "succeeded")
            if isinstance(settings, Canary) and route.active_colour is not None:
                self.ctx.notify(self.dep_id, self.env, "rollout.promoted", f"{release.id} serves all traffic")
        except StepFailed as failed:
            self._abandon()
            store.finish_deployment(self.dep_id, "failed", failed.error.message, failed.error.hint)
        except Exception as exc:  # a bug must still leave the old version serving
            self._abandon()
            store.finish_deployment(
                self.dep_id,
                "failed",
                f"internal error: {exc!r}",
                "report this as a Shipyard bug; the old version kept serving",
            )

    def _step(self, name: str, action: Callable[[], tuple[T, str]]) -> T:
        """Run one step: record its start, its outcome and detail, and its timing."""
        store = self.ctx.store
        self.ctx.hit_failpoint(f"before:{name}")
        step_id = store.start_step(self.dep_id, name)
        started = time.monotonic()
        try:
            result = action()
        except ShipyardError as exc:
            store.finish_step(self.dep_id, step_id, name, "failed", exc.message)
            raise StepFailed(exc) from None
        value, detail = result
        elapsed = time.monotonic() - started
        store.finish_step(self.dep_id, step_id, name, "ok", detail or f"{elapsed:.2f}s")
        self.ctx.hit_failpoint(f"after:{name}")
        return value

    def note(self, step: str, message: str) -> None:
        self.ctx.store.add_event(self.dep_id, step, message)

    # steps ---------------------------------------------------------------------------------
    def _build(self) -> tuple[Release, str]:
        ctx = self.ctx
        if self.release_id is not None:
            return prepare_existing(ctx, self.dep_id, self.env, self.release_id, self.kind)
        started = time.monotonic()
        with ctx.locks.build:
            number = ctx.store.next_release_number()
            release = ctx.builder.build(
                ctx.paths.app_dir, ctx.manifest, number, ctx.manifest_text, lambda m: self.note("build", m)
            )
            release = with_config(ctx, release)  # each environment's configuration, recorded
            ctx.store.add_release(release)
        ctx.store.set_deployment_release(self.dep_id, release.id)
        ctx.store.set_deployment_checksum(self.dep_id, release.checksum)
        took = time.monotonic() - started
        return release, f"release {release.id} built in {took:.2f}s (deps {release.deps_hash})"

    def _migrate(self, release: Release) -> None:
        """With ``database.migrate``: steps backup and migrate (restore on failure)."""
        if (spec := self.migrations.spec(self.env)) is not None:
            self.migrations.migrate(self._step, self.env, release, spec.up, spec.timeout)

    def _prepare(self, route: Route) -> tuple[None, str]:
        """Pick the new colour; the release standing by there keeps running beside the new one."""
        assert self.new_colour is not None
        live = self.ctx.live_instances(self.env, self.new_colour)
        standby = route.standby_colour == self.new_colour
        kept = [i for i in live if standby and i.release_id == route.standby_release]
        leftovers = [i for i in live if i not in kept]
        stop_instances(self.ctx, leftovers, self.ctx.manifest.strategy_for(self.env).stop_timeout)
        self.kept = {i.id for i in kept}
        what = f"stopped {len(leftovers)} leftover instance(s); " if leftovers else ""
        keeps = f"; {route.standby_release} keeps standing by there until the switch" if kept else ""
        return None, f"{what}new colour is {self.new_colour}{keeps}"

    def _new_instances(self) -> list[Instance]:
        """The new colour's live instances that this deployment started."""
        assert self.new_colour is not None
        return [i for i in self.ctx.live_instances(self.env, self.new_colour) if i.id not in self.kept]

    def _start(self, release: Release) -> tuple[list[Instance], str]:
        ctx, env, colour = self.ctx, self.env, self.new_colour
        assert colour is not None
        taken = {i.slot for i in ctx.live_instances(env, colour)}
        slots = [n for n in range(len(taken) + ctx.web_count(env)) if n not in taken]
        started: list[Instance] = []
        for slot in slots[: ctx.web_count(env)]:
            inst_id = ctx.store.add_instance(NewInstance(env, colour, slot, release.id, time.time()))
            run = start_instance(ctx, self.databases, ctx.store.instance(inst_id), release)
            started.append(ctx.store.instance(inst_id))
            self.note("start", f"{colour}-{slot} started on {run.endpoint} ({run.label})")
        ctx.sync_proxy()
        return started, f"{len(started)} instance(s) of {release.id} started as {colour}"

    def _wait_healthy(self, new: list[Instance]) -> tuple[None, str]:
        ctx = self.ctx
        health = ctx.manifest.health
        limit = ctx.manifest.strategy_for(self.env).max_restarts
        states = {i.id: HealthState() for i in new}
        refs = {i.id: i.runtime_ref for i in new}
        last: dict[int, str] = {}
        began = time.monotonic()
        deadline = began + health.start_timeout
        while True:
            for inst in [ctx.store.instance(i.id) for i in new]:
                if inst.restarts > limit:
                    raise failed_with_output(
                        ctx,
                        inst,
                        f"instance {inst.name} keeps crashing ({inst.restarts} restarts)",
                        f"run the command by hand in {inst.release_id}'s release to see why "
                        f"(`shipyard logs {self.env}`), or check processes.web.command in shipyard.yaml",
                    )
                if inst.runtime_ref != refs[inst.id]:
                    states[inst.id], refs[inst.id] = HealthState(), inst.runtime_ref
                if states[inst.id].healthy or inst.state not in ("starting", "running"):
                    continue
                if inst.endpoint is None:
                    continue  # not started yet (the reconciler restarts it)
                result = ctx.prober.get(inst.endpoint, health.path, health.timeout)
                states[inst.id] = observe(
                    states[inst.id], result.ok, health.healthy_threshold, health.unhealthy_threshold
                )
                last[inst.id] = result.error or f"{result.status}"
                if states[inst.id].healthy:
                    self.note("health", f"{inst.name} healthy after {time.monotonic() - began:.2f}s")
            if all(s.healthy for s in states.values()):
                return None, f"{len(new)} instance(s) healthy in {time.monotonic() - began:.2f}s"
            if time.monotonic() > deadline:
                bad = [i for i in new if not states[i.id].healthy]
                inst = bad[0]
                raise DeployError(
                    f"instance {inst.name} did not become healthy within "
                    f"{health.start_timeout:g}s (GET {health.path}: {last.get(inst.id, 'no answer')})",
                    f"see its output with `shipyard logs {self.env}`; raise health.start_timeout "
                    "if it only needs longer",
                )
            time.sleep(health.interval)

    def _smoke(self, new: list[Instance]) -> tuple[None, str]:
        checks = self.ctx.manifest.smoke
        timeout = self.ctx.manifest.health.timeout
        for inst in new:
            for i, check in enumerate(checks):
                res = self.ctx.prober.get(inst.endpoint or "", check.path, timeout, check.expect_status)
                if res.ok and check.contains and check.contains not in res.body:
                    res = type(res)(
                        False, res.status, res.seconds, f"body does not contain {check.contains!r}"
                    )
                if not res.ok:
                    raise DeployError(
                        f"smoke check smoke[{i}] GET {check.path} on {inst.name} failed: {res.error}",
                        "fix the app or the smoke check in shipyard.yaml; the old version kept serving",
                    )
        return None, f"{len(checks)} check(s) passed on {len(new)} instance(s)"

    def _start_workers(self, release: Release) -> tuple[None, str]:
        assert self.new_colour is not None
        note = lambda message: self.note("workers", message)  # noqa: E731
        return start_workers(self.ctx, self.databases, self.env, self.new_colour, release, note)

    def _switch(self, release: Release, route: Route) -> tuple[None, str]:
        """One map change to the new release (the release that stood by in its colour is out
        of traffic from then on; the drain step stops it)."""
        ctx = self.ctx
        assert self.new_colour is not None
        new = self._new_instances()
        wait_proxy_up(self.ctx, self.env, self.new_colour, new)
        window = ctx.manifest.strategy_for(self.env).rollback_window
        new_route = Route(
            env=self.env,
            active_colour=self.new_colour,
            active_release=release.id,
            standby_colour=route.active_colour,
            standby_release=route.active_release,
            standby_until=time.time() + window if route.active_colour else None,
        )
        started = time.monotonic()
        with ctx.locks.routing:
            for inst in new:
                ctx.store.update_instance(inst.id, state="running")
            ctx.store.set_route(new_route)
            try:
                ctx.sync_proxy()
            except ShipyardError:
                ctx.store.set_route(route)
                ctx.sync_proxy()
                raise
        took = (time.monotonic() - started) * 1000
        return None, f"traffic on {self.new_colour} ({release.id}) in {took:.1f} ms"

    def _canary(self, settings: Canary, release: Release, route: Route) -> tuple[Outcome, str]:
        assert self.new_colour is not None
        run = CanaryRun(self.ctx, self.dep_id, self.env, settings, release.id, route, self.new_colour)
        self.ctx.rollouts.add(self.env, run)
        try:
            outcome = run.run()
        finally:
            self.ctx.rollouts.remove(self.env)
        if outcome.phase == "promoted":
            return outcome, f"promoted after {time.time() - run.started:.1f}s"
        return outcome, f"{outcome.phase.replace('_', ' ')}: {outcome.reason}"

    def _retire(self, outcome: Outcome) -> None:
        """After a canary that did not make it: drain and stop it, and record why."""
        assert self.new_colour is not None
        held = [
            i
            for i in self.ctx.store.instances(self.env)
            if i.colour == self.new_colour
            and i.state in ("starting", "running", "stopping")
            and i.id not in self.kept
        ]
        hint = (
            f"see the figures with `shipyard rollout status {self.env}`; "
            f"`shipyard rollout retry {self.env}` runs it again"
        )
        self._end_unpromoted(held, outcome.phase, outcome.reason, hint)

    def _end_unpromoted(self, held: list[Instance], status: str, reason: str, hint: str) -> None:
        """Drain and stop the new colour (already out of traffic), record why, and notify."""
        assert self.new_colour is not None
        settings = self.ctx.manifest.strategy_for(self.env)
        wait_drained(self.ctx, self.env, self.new_colour, settings.drain_timeout)
        stop_instances(self.ctx, held, settings.stop_timeout)
        converge_workers(self.ctx, self.databases, self.env)  # the serving release's, again
        self.ctx.store.finish_deployment(self.dep_id, status, reason, hint)
        self.ctx.notify(self.dep_id, self.env, f"rollout.{status}", reason)

    def _analyse(self, settings: BlueGreen) -> tuple[str | None, str]:
        assert self.new_colour is not None
        failure = watch_after_switch(self.ctx, self.dep_id, self.env, settings, self.new_colour)
        return failure, failure or f"passed over {settings.analysis_window:g}s"

    def _switch_back(self, route: Route, reason: str) -> None:
        """Blue-green's automatic rollback: the old colour (still up) takes all traffic again,
        and the failed one is drained and stopped."""
        ctx = self.ctx
        assert self.new_colour is not None
        decided = time.time()
        with ctx.locks.routing:
            failed = ctx.live_instances(self.env, self.new_colour)
            for inst in failed:
                ctx.store.update_instance(inst.id, state="stopping")
            ctx.store.set_route(Route(self.env, route.active_colour, route.active_release))
            ctx.sync_proxy()
        took = (time.time() - decided) * 1000
        ctx.store.add_event(
            self.dep_id,
            "analysis",
            f"rolled back: traffic on {route.active_release} in {took:.1f} ms",
            "failed",
        )
        ctx.store.save_rollout(
            self.dep_id,
            env=self.env,
            strategy="blue-green",
            plan={},
            step=0,
            weight=0,
            failures=1,
            phase="rolled_back",
            last_progress=decided,
            started_at=decided,
            decided_at=decided,
            zero_at=decided + took / 1000,
            reason=reason,
        )
        self._end_unpromoted(
            failed,
            "rolled_back",
            reason,
            f"traffic is back on {route.active_release}; `shipyard deployments {self.env}` shows the checks",
        )

    def _drain(self, route: Route) -> tuple[None, str]:
        """Stop the release that stood by beside the new one; wait for the old colour's requests."""
        assert self.new_colour is not None
        settings = self.ctx.manifest.strategy_for(self.env)
        replaced = [i for i in self.ctx.live_instances(self.env, self.new_colour) if i.id in self.kept]
        stop_instances(self.ctx, replaced, settings.stop_timeout)
        was = f"{route.standby_release} stopped on {self.new_colour}; " if replaced else ""
        if workers := converge_workers(self.ctx, self.databases, self.env):  # the old release's stop
            was += f"{len(workers)} old worker(s) stopped; "
        old = route.active_colour
        if old is None:
            return None, f"{was}first release: nothing to drain"
        took = wait_drained(self.ctx, self.env, old, settings.drain_timeout)
        if took is None:
            return None, f"{was}{old} still had requests after {settings.drain_timeout:g}s (drain timeout)"
        return None, f"{was}{old} drained in {took:.2f}s; kept for rollback for {settings.rollback_window:g}s"

    def _abandon(self) -> None:
        """Stop the new instances (never the serving ones, nor those standing by beside them)."""
        if self.new_colour is None:
            return
        route = self.ctx.store.route(self.env)
        if route.active_colour == self.new_colour:
            return  # the switch happened: the new colour serves now
        if route.canary_colour == self.new_colour:
            with self.ctx.locks.routing:
                self.ctx.store.set_route(route.without_canary())
                self.ctx.sync_proxy()
        stop_instances(self.ctx, self._new_instances(), self.ctx.manifest.strategy_for(self.env).stop_timeout)
        converge_workers(self.ctx, self.databases, self.env)  # the new release's stop
