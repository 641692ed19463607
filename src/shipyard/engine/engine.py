"""The engine's face: deploy, rollback, status and shutdown, as the API calls them.

Deployments run in a thread each while their environment's lock is held. A
rollback to a colour that is still running is a single routing change made in
the request itself; otherwise it becomes a deployment of the earlier release.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from shipyard.core.proxy import backend_name, frontend_name
from shipyard.core.records import NewDeployment, Route
from shipyard.core.rollout import describe_plan, min_interval_for
from shipyard.drivers.proxy.interface import AccessLog
from shipyard.drivers.runtime.procs import stored_ref
from shipyard.engine.checkpoints import Checkpointer
from shipyard.engine.context import Context
from shipyard.engine.data.backups import BackupService
from shipyard.engine.data.database import check_deployable
from shipyard.engine.data.drill import Drills
from shipyard.engine.data.masking import MaskedCopies
from shipyard.engine.data.migrations import Migrations
from shipyard.engine.data.postgres.managed import ManagedPostgres
from shipyard.engine.data.schedule import BackupScheduler
from shipyard.engine.delivery.config import resolve_env
from shipyard.engine.delivery.deploy import Deployment
from shipyard.engine.delivery.instances import stop_instances
from shipyard.engine.delivery.promotion import check_rollback_target, pick_release
from shipyard.engine.delivery.reconcile import Reconciler, reconcile_at_start
from shipyard.engine.jobs import JobRunner
from shipyard.engine.observe.alerting import Alerting
from shipyard.engine.observe.logs import LogService
from shipyard.engine.trust.access import Access
from shipyard.engine.trust.approvals import Approvals
from shipyard.engine.trust.vault import RuntimeSecrets, Vault
from shipyard.errors import ConflictError, ManifestError, NotFoundError
from shipyard.manifest.models import Canary


class Engine:
    def __init__(
        self,
        ctx: Context,
        access_log: AccessLog | None = None,
        logs: LogService | None = None,
        alerting: Alerting | None = None,
    ) -> None:
        self.ctx = ctx
        self.logs = logs
        self.alerting = alerting
        self.access = Access(ctx.store, lambda: list(ctx.manifest.environments))
        self.vault = Vault(ctx.store, self.access, ctx.paths.master_key, lambda: ctx.manifest.vault)
        ctx.secrets = RuntimeSecrets(self.vault)
        self.reconciler = Reconciler(ctx)
        self.reconciler.every(60.0, self.vault.purge_expired)
        self.approvals = Approvals(ctx, self._launch)
        self.backups = BackupService(ctx)
        self.migrations = Migrations(ctx)
        self.backup_scheduler = BackupScheduler(self.backups)
        self.masked_copies = MaskedCopies(self.backups)
        self.drills = Drills(self.backups, self._last_shipped)
        self.jobs = JobRunner(ctx)  # backups, restores, drills, migrations by hand
        ctx.facts.update(
            backup_age=self.backups.age,
            secrets_overdue=lambda env, now: self.vault.count_due(env, now, overdue_only=True),
            secrets_due=lambda env, now: self.vault.count_due(env, now, overdue_only=False),
        )
        self.access_log = access_log
        self.checkpointer = Checkpointer(ctx.store.checkpoint)  # the WAL, out of requests' commits
        self._threads: list[threading.Thread] = []

    def _last_shipped(self, env: str) -> float | None:
        shipper = self.backup_scheduler.shippers.get(env)
        return None if shipper is None else shipper.last_shipped_at

    def start(self) -> list[str]:
        if self.access_log is not None:
            self.access_log.start()
        opened = self.vault.open()
        done = self.jobs.interrupt_at_start()  # the jobs a stopped control plane cut short
        done += ManagedPostgres(self.ctx).start_all()  # before instances are adopted or restarted
        done += reconcile_at_start(self.ctx)
        done.insert(0, opened)
        self.checkpointer.start()
        self.reconciler.start()
        if self.logs is not None:
            self.logs.start()
        if self.alerting is not None:
            self.alerting.start()
        done += self.backup_scheduler.start()
        done += self.drills.start()
        return done

    def close(self) -> None:
        self.drills.stop()
        self.backup_scheduler.stop()
        self.reconciler.stop()
        self.checkpointer.stop()
        if self.alerting is not None:
            self.alerting.stop()
        if self.access_log is not None:
            self.access_log.stop()
        if self.logs is not None:
            self.logs.stop()
        for thread in self._threads:
            thread.join(timeout=1)

    # deploy ----------------------------------------------------------------------------------
    def deploy(
        self,
        env: str,
        requested_by: str,
        release_id: str | None = None,
        kind: str = "deploy",
        reason: str = "",
    ) -> int:
        ctx = self.ctx
        manifest = ctx.reload_manifest()
        self._check_env(env, manifest.environments)
        check_deployable(ctx, env)
        if release_id is not None:
            ctx.store.release(release_id)  # NotFoundError names the fix
        if kind != "rollback":
            resolve_env(ctx, env, manifest)  # a missing or malformed value refuses it here
        route = ctx.store.route(env)
        settings = manifest.strategy_for(env)
        if isinstance(settings, Canary) and route.active_colour is not None:
            self._check_traffic(env, settings)
        new = NewDeployment(
            env=env,
            kind=kind,
            requested_by=requested_by,
            release_id=release_id,
            from_release=route.active_release,
            reason=reason,
        )
        approval = manifest.environments[env].approval
        if approval is not None and approval.required and kind != "rollback":
            if release_id is None:
                raise ConflictError(
                    f"{env} requires approval, and an approver approves a release, not a build to come",
                    f"promote a release that passed the path (`shipyard promote --to {env}`), or name one: "
                    f"`shipyard deploy {env} --release RELEASE`",
                )
            return self.approvals.request(new, approval)  # holds no lock while it waits
        dep_id = ctx.store.begin_deployment(new, ctx.owner)
        if isinstance(settings, Canary):
            plan = (
                describe_plan(settings)
                if route.active_colour
                else ["first release: no stable version, so it takes all traffic"]
            )
            for line in plan:
                ctx.store.add_event(dep_id, "plan", line)
        ctx.sync_proxy()  # a new environment or port gets its frontend now
        self._launch(dep_id, env, release_id, kind)
        return dep_id

    def _launch(self, dep_id: int, env: str, release_id: str | None, kind: str | None = None) -> None:
        dep = self.ctx.store.deployment(dep_id)
        job = Deployment(self.ctx, dep_id, env, release_id, kind or dep.kind)
        self.ctx.notify(dep_id, env, "deployment.started", dep.reason or dep.kind)
        thread = threading.Thread(target=lambda: self._run(job), name=f"deploy-{dep_id}", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def promote(self, release_id: str | None, target: str, requested_by: str) -> int:
        """Deploy the release that passed the environment before ``target`` on the path."""
        self._check_env(target, self.ctx.reload_manifest().environments)
        chosen, before = pick_release(self.ctx, release_id, target)
        reason = f"{chosen} from {before}" if before else chosen
        return self.deploy(target, requested_by, chosen, kind="promote", reason=reason)

    def _run(self, job: Deployment) -> None:
        """Run a deployment, then announce how it ended (a canary's rollout announced its own)."""
        job.run()
        dep = self.ctx.store.deployment(job.dep_id)
        if dep.status != "running" and self.ctx.store.rollout(job.dep_id) is None:
            self.ctx.notify(job.dep_id, job.env, f"deployment.{dep.status}", dep.error or "")

    def _check_traffic(self, env: str, canary: Canary) -> None:
        """Refuse an interval too short to collect min_requests at the first step's share of traffic."""
        if canary.analysis.no_data == "pass":
            return
        rps = self.ctx.traffic.rate(frontend_name(env), time.time())
        needed = min_interval_for(canary, rps)
        if needed is not None and needed <= canary.interval:
            return
        key = (
            f"environments.{env}.strategy.canary"
            if self.ctx.manifest.environments[env].strategy
            else "strategy.canary"
        )
        first = canary.steps[0]
        if needed is None:
            problem = f"{env} has had no traffic in the last minute, so no step can collect"
        else:
            problem = (
                f"at the current {rps:.1f} requests/s, {first}% of traffic collects "
                f"{rps * first / 100 * canary.interval:.0f} requests in {canary.interval:g}s, fewer than"
            )
        raise ManifestError(
            f"{self.ctx.paths.manifest}: {key}.interval ({canary.interval:g}s) is too short: {problem} "
            f"analysis.min_requests ({canary.analysis.min_requests})",
            (f"raise {key}.interval to at least {needed:.0f}s, " if needed else "")
            + f"lower {key}.analysis.min_requests, or set {key}.analysis.no_data to pass",
        )

    # progressive rollouts ---------------------------------------------------------------------
    def rollout_verb(self, env: str, verb: str, by: str) -> dict[str, Any]:
        self._check_env(env, self.ctx.manifest.environments)
        run = self.ctx.runs.get(env)
        if run is None:
            raise ConflictError(
                f"no rollout is running in {env}",
                f"see the last one with `shipyard rollout status {env}`; "
                f"start one with `shipyard deploy {env}`",
            )
        return dict(run.verb(verb, by))

    def rollout_retry(self, env: str, by: str) -> int:
        self._check_env(env, self.ctx.manifest.environments)
        last = self.ctx.store.latest_rollout(env)
        if last is None or last["phase"] not in ("aborted", "rolled_back", "failed"):
            shown = "no rollout" if last is None else f"the last rollout is {last['phase']}"
            raise ConflictError(
                f"nothing to retry in {env}: {shown}",
                "retry runs an aborted, rolled back or failed rollout again",
            )
        dep = self.ctx.store.deployment(int(last["deployment_id"]))
        return self.deploy(env, by, dep.release_id, reason=f"retry of deployment {dep.id}")

    def rollout_status(self, env: str) -> dict[str, Any]:
        self._check_env(env, self.ctx.manifest.environments)
        store = self.ctx.store
        last = store.latest_rollout(env)
        if last is None:
            raise NotFoundError(
                f"{env} has had no progressive rollout yet", f"`shipyard deploy {env}` with a canary strategy"
            )
        dep_id = int(last["deployment_id"])
        samples = store.samples(dep_id)
        latest: dict[str, Any] = {}
        for row in samples:
            latest[row["role"]] = row
        return {
            "rollout": last,
            "deployment": store.deployment(dep_id).to_json(),
            "running": env in self.ctx.runs,
            "latest": latest,
            "checks": store.checks(dep_id),
            "samples": len(samples),
        }

    # rollback --------------------------------------------------------------------------------
    def rollback(self, env: str, requested_by: str, to: str | None = None) -> int:
        ctx = self.ctx
        self._check_env(env, ctx.manifest.environments)
        if env in ctx.runs:
            raise ConflictError(
                f"a progressive rollout is running in {env}",
                f"`shipyard rollout abort {env}` returns all traffic to the stable version at once",
            )
        route = ctx.store.route(env)
        target = to or route.standby_release
        if target is None:
            raise ConflictError(
                f"environment {env!r} has no earlier release to roll back to",
                "deploy at least twice, or name a release with --to (see `shipyard releases`)",
            )
        ctx.store.release(target)
        if target == route.active_release:
            raise ConflictError(f"{target} is already serving {env}", "name another release with --to")
        check_rollback_target(ctx, env, target)  # no approval below: only a release that served env
        standby = ctx.live_instances(env, route.standby_colour) if route.standby_colour else []
        up = standby and all(ctx.runtime.alive(stored_ref(i.pid, i.create_time)) for i in standby)
        if route.standby_release != target or not up:
            return self.deploy(env, requested_by, target, kind="rollback", reason=f"to {target}")
        return self._instant_rollback(env, requested_by, route)

    def _instant_rollback(self, env: str, requested_by: str, route: Route) -> int:
        """Swap the colours: the lock, deployment, step and new route in one commit, then the
        proxy (a map change, no reload), then the outcome and the lock's release in another."""
        ctx = self.ctx
        new = NewDeployment(
            env=env,
            kind="rollback",
            requested_by=requested_by,
            release_id=route.standby_release,
            from_release=route.active_release,
            reason=f"to {route.standby_release}",
        )
        window = ctx.manifest.strategy_for(env).rollback_window
        swapped = Route(
            env,
            route.standby_colour,
            route.standby_release,
            route.active_colour,
            route.active_release,
            time.time() + window,
        )
        started = time.monotonic()
        with ctx.mutex:
            dep_id, step = ctx.store.begin_switch(new, ctx.owner, swapped)
            ctx.hit_failpoint("rollback:after-route")
            try:
                ctx.sync_proxy()
            except Exception as exc:
                ctx.store.set_route(route)
                ctx.sync_proxy()
                ctx.store.finish_switch(dep_id, step, "failed", str(exc), "see `shipyard status`")
                raise
        took = (time.monotonic() - started) * 1000
        ctx.store.finish_switch(
            dep_id,
            step,
            "ok",
            f"traffic back on {swapped.active_colour} ({swapped.active_release}) in {took:.1f} ms",
        )
        return dep_id

    # status and shutdown ------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        ctx = self.ctx
        proxy_states = {}
        if ctx.proxy.is_running():
            proxy_states = {(s.backend, s.name): s for s in ctx.proxy.server_states()}
        envs: dict[str, Any] = {}
        waiting = ctx.store.approvals.waiting()
        firing: dict[str, int] = {}
        for alert in ctx.store.observe.alerts():
            if alert.state == "firing":
                firing[alert.label("env")] = firing.get(alert.label("env"), 0) + 1
        for env, spec in ctx.manifest.environments.items():
            route = ctx.store.route(env)
            held = ctx.store.lock(env)
            insts = []
            for i in ctx.live_instances(env):
                seen = proxy_states.get((backend_name(env, i.colour), i.name))
                insts.append(
                    {
                        "name": i.name,
                        "release": i.release_id,
                        "port": i.port,
                        "pid": i.pid,
                        "state": i.state,
                        "restarts": i.restarts,
                        "alive": ctx.runtime.alive(stored_ref(i.pid, i.create_time)),
                        "proxy_status": seen.status if seen else None,
                        "weight": route.share(i.colour),
                    }
                )
            envs[env] = {
                "url": f"http://{spec.bind}:{spec.port}/",
                "active_colour": route.active_colour,
                "active_release": route.active_release,
                "standby_colour": route.standby_colour,
                "standby_release": route.standby_release,
                "standby_until": route.standby_until,
                "lock": None
                if held is None
                else {
                    "holder": held.holder,
                    "reason": held.reason,
                    "since": held.acquired_at,
                    "deployment": held.deployment_id,
                },
                "instances": insts,
                "waiting_approval": [vars(w) for w in waiting if w.env == env],
                "alerts_firing": firing.get(env, 0),
            }
        return {
            "app": ctx.manifest.app,
            "proxy_running": ctx.proxy.is_running(),
            "environments": envs,
            "reconciler_errors": self.reconciler.errors,
            "failed_notifications": self._failed_notifications(),
        }

    def _failed_notifications(self) -> list[dict[str, Any]]:
        """The last failed deliveries of the past hour (receiver and why; no secret), for ``status``."""
        since = time.time() - 3600
        recent = self.ctx.store.observe.deliveries(20)
        failed = [d for d in recent if d["status"] == "failed" and d["at"] >= since]
        return [{"receiver": d["receiver"], "detail": d["detail"]} for d in failed[:3]]

    def break_lock(self, env: str) -> dict[str, Any]:
        held = self.ctx.store.break_lock(env, "interrupted", "lock broken by hand")
        if held is None:
            raise NotFoundError(f"environment {env!r} is not locked", "nothing to do")
        return {"env": env, "deployment": held.deployment_id, "holder": held.holder}

    def shutdown(self) -> None:
        """Stop every instance and HAProxy (``shipyard down``)."""
        self.reconciler.stop()
        ctx = self.ctx
        instances = ctx.store.instances()
        for env in sorted({i.env for i in instances}):
            grace = ctx.manifest.strategy_for(env).stop_timeout if env in ctx.manifest.environments else 5.0
            stop_instances(ctx, [i for i in instances if i.env == env], grace)
        ctx.proxy.stop()
        self.backup_scheduler.stop()  # its WAL streams end before their clusters stop
        ManagedPostgres(ctx).stop_all()

    @staticmethod
    def _check_env(env: str, known: dict[str, Any]) -> None:
        if env not in known:
            raise NotFoundError(
                f"environment {env!r} is not in shipyard.yaml (known: {', '.join(sorted(known))})",
                "pick one of those, or add it under `environments` in shipyard.yaml",
            )
