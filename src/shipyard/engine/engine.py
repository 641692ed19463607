"""The engine's face: deploy, rollback, status and shutdown, as the API calls them.

Deployments run in a thread each (``delivery/launcher.py``) while their environment's lock is
held. A rollback to a colour that is still running is a single routing change made in the
request itself (``delivery/rollback.py``); otherwise it becomes a deployment of the earlier
release. Every service is built by the composition root and given here (``services.py``).
"""

from __future__ import annotations

import time
from typing import Any

from shipyard.core.proxy import frontend_name
from shipyard.core.records import NewDeployment
from shipyard.core.rollout import describe_plan, min_interval_for
from shipyard.drivers.loops import LoopRegistry
from shipyard.engine.context import Context
from shipyard.engine.delivery.config import resolve_env
from shipyard.engine.delivery.instances import stop_instances
from shipyard.engine.delivery.nodes import list_nodes
from shipyard.engine.delivery.promotion import pick_release
from shipyard.engine.delivery.reconcile import reconcile_at_start
from shipyard.engine.delivery.rollback import instant_rollback, rollback_plan
from shipyard.engine.services import Services
from shipyard.engine.status import status
from shipyard.errors import ConflictError, ManifestError, NotFoundError
from shipyard.manifest.models import Canary


class Engine:
    def __init__(self, ctx: Context, services: Services) -> None:
        self.ctx = ctx
        self.launcher = services.launcher
        self.reconciler = services.reconciler
        self.autoscaler = services.autoscaler
        self.scale = services.scale
        self.history = services.history
        self.config = services.config
        self.maintenance = services.maintenance
        self.pipelines = services.pipelines
        self.figures = services.figures
        self.triggers = services.triggers
        self.certs = services.certs
        self.access = services.access
        self.vault = services.vault
        self.approvals = services.approvals
        self.directory = services.directory
        self.backups = services.backups
        self.databases = services.databases
        self.migrations = services.migrations
        self.backup_scheduler = services.backup_scheduler
        self.masked_copies = services.masked_copies
        self.drills = services.drills
        self.jobs = services.jobs
        self.checkpointer = services.checkpointer
        self.observe = services.observe
        self.alerting = services.alerting
        self.logs = services.logs
        self.access_log = services.access_log
        self.cron = services.cron
        self.loops: LoopRegistry = services.loops

    def start(self) -> list[str]:
        if self.access_log is not None:
            self.access_log.start()
        opened = self.vault.open()
        done = self.jobs.interrupt_at_start()  # the jobs a stopped control plane cut short
        done += self.pipelines.interrupt_at_start()
        done += self.backups.engines.clusters.start_all()  # before instances are adopted or restarted
        done += reconcile_at_start(self.ctx)
        done.insert(0, opened)
        self.checkpointer.start()
        self.reconciler.start()
        self.autoscaler.start()
        if self.logs is not None:
            self.logs.start()
        if self.alerting is not None:
            self.alerting.start()
        done += self.backup_scheduler.start()
        done += self.drills.start()
        if self.cron is not None:
            done += self.cron.start()  # after reconciliation: runs need the serving release
        self.certs.start()  # ACME renewals: HAProxy runs (reconciliation synced it)
        return done

    def close(self) -> None:
        self.certs.stop()
        if self.cron is not None:
            self.cron.stop()
        self.drills.stop()
        self.backup_scheduler.stop()
        self.autoscaler.stop()
        self.reconciler.stop()
        self.checkpointer.stop()
        if self.alerting is not None:
            self.alerting.stop()
        if self.access_log is not None:
            self.access_log.stop()
        if self.logs is not None:
            self.logs.stop()
        self.launcher.close()

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
        if kind != "rollback":  # a rollback keeps the last good certificate (Context.sync_proxy)
            ctx.check_certificates()  # a bad one is refused before the deployment begins
        self.databases.check_deployable(env)
        if release_id is not None:
            ctx.store.release(release_id)  # NotFoundError names the fix
            if kind != "rollback":  # a rollback goes back to what served before
                self.pipelines.check_deployable(release_id, env)
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
        self.launcher.launch(dep_id, env, release_id, kind)
        return dep_id

    def promote(self, release_id: str | None, target: str, requested_by: str) -> int:
        """Deploy the release that passed the environment before ``target`` on the path."""
        self._check_env(target, self.ctx.reload_manifest().environments)
        chosen, before = pick_release(self.ctx, release_id, target)
        if self.pipelines.verifier is not None:  # passed the previous environment's verify
            self.pipelines.verifier.check_promotable(chosen, before)
        reason = f"{chosen} from {before}" if before else chosen
        return self.deploy(target, requested_by, chosen, kind="promote", reason=reason)

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
        run = self.ctx.rollouts.get(env)
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
            "running": env in self.ctx.rollouts,
            "latest": latest,
            "checks": store.checks(dep_id),
            "samples": len(samples),
        }

    # rollback --------------------------------------------------------------------------------
    def rollback(self, env: str, requested_by: str, to: str | None = None) -> int:
        self._check_env(env, self.ctx.manifest.environments)
        target, swap = rollback_plan(self.ctx, env, to)
        if swap is None:
            return self.deploy(env, requested_by, target, kind="rollback", reason=f"to {target}")
        return instant_rollback(self.ctx, env, requested_by, swap)

    # status and shutdown ------------------------------------------------------------------------
    def nodes(self) -> dict[str, Any]:
        """The runtime's nodes (``runtime: swarm``) and their state."""
        return list_nodes(self.ctx)

    def status(self) -> dict[str, Any]:
        return status(self.ctx, self.loops.errors("reconciler"))

    def promotion_path(self) -> tuple[str, ...]:
        """The environments a release goes through, in order (empty: no promotion path)."""
        promotion = self.ctx.manifest.promotion
        return tuple(promotion.path) if promotion else ()

    def break_lock(self, env: str) -> dict[str, Any]:
        held = self.ctx.store.break_lock(env, "interrupted", "lock broken by hand")
        if held is None:
            raise NotFoundError(f"environment {env!r} is not locked", "nothing to do")
        return {"env": env, "deployment": held.deployment_id, "holder": held.holder}

    def shutdown(self) -> None:
        """Stop every instance (workers too) and HAProxy (``shipyard down``)."""
        self.autoscaler.stop()
        self.reconciler.stop()
        ctx = self.ctx
        instances = ctx.store.instances(process=None)
        for env in sorted({i.env for i in instances}):
            grace = ctx.manifest.strategy_for(env).stop_timeout if env in ctx.manifest.environments else 5.0
            stop_instances(ctx, [i for i in instances if i.env == env], grace)
        ctx.proxy.stop()
        self.backup_scheduler.stop()  # its WAL streams end before their clusters stop
        self.backups.engines.clusters.stop_all()

    @staticmethod
    def _check_env(env: str, known: dict[str, Any]) -> None:
        if env not in known:
            raise NotFoundError(
                f"environment {env!r} is not in shipyard.yaml (known: {', '.join(sorted(known))})",
                "pick one of those, or add it under `environments` in shipyard.yaml",
            )
