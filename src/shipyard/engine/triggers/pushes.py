"""A pushed commit, from the push to its environment: fetch, build, pipeline, branch rule, deploy.

``Triggers`` is the service ``server/triggers.py`` calls for a ``git push`` to the repository
Shipyard hosts (``POST /api/triggers/push``, from its ``post-receive`` hook) and for a host's
signed push event (``POST /api/hooks/{provider}``). ``run`` is a job's operation: the commit is
checked out in ``<home>/triggers/push-<job>`` (``drivers/triggers``), built as a release with
the control plane's shipyard.yaml, its commit recorded, its pipeline run (``Pipelines.run``),
then deployed where ``triggers.branches`` sends its branch (production still waits for its
approval); each step is a progress line the pusher sees. The commit id and message travel as
the deployment's reason, so the history, the audit log and notifications carry them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shipyard.core.approval import WAITING
from shipyard.core.jobs import Progress
from shipyard.core.records import Release
from shipyard.core.triggers.branches import deploy_target
from shipyard.core.triggers.hooks import Push
from shipyard.drivers.pipeline.interface import Commit
from shipyard.drivers.triggers.interface import Checkouts
from shipyard.engine.context import Context
from shipyard.engine.delivery.config import with_config
from shipyard.engine.pipeline.runs import Pipelines, pipeline_env
from shipyard.errors import ConflictError, DeployError, NotFoundError
from shipyard.manifest.triggers import Triggers as TriggerSpec

Deploy = Callable[..., int]  # Engine.deploy(env, requested_by, release_id, kind=, reason=)
GOING = ("queued", "running")


class Triggers:
    def __init__(self, ctx: Context, checkouts: Checkouts, pipelines: Pipelines) -> None:
        self.ctx = ctx
        self.checkouts = checkouts
        self.pipelines = pipelines

    def spec(self) -> TriggerSpec:
        found = self.ctx.reload_manifest().triggers
        if found is None:
            raise NotFoundError(
                "shipyard.yaml has no triggers",
                "add `triggers: {branches: {main: staging}}` to shipyard.yaml",
            )
        return found

    def hosted(self) -> Path:
        return self.checkouts.hosted(self.ctx.manifest.app)

    def env_of(self, branch: str) -> str:
        """Whose ``deploy`` permission a push of ``branch`` needs: where it deploys, else the pipeline's."""
        manifest = self.ctx.reload_manifest()
        rules = manifest.triggers.branches if manifest.triggers else {}
        return deploy_target(rules, branch) or pipeline_env(manifest)

    def webhook_secret(self, provider: str) -> tuple[str, bytes]:
        """The environment whose vault signs webhooks, and the secret (read audited)."""
        hook = self.spec().webhook
        if hook is None:
            raise NotFoundError(
                "shipyard.yaml has no triggers.webhook",
                "add `triggers: {webhook: {secret: WEBHOOK_SECRET}}` and set that secret in the vault",
            )
        env = hook.environment or pipeline_env(self.ctx.manifest)
        value = self.ctx.secrets.value(
            env, hook.secret, f"{provider} webhook signature", f"webhook:{provider}"
        )
        if not value:
            raise ConflictError(
                f"triggers.webhook.secret: {hook.secret} is not in {env}'s vault",
                f"`shipyard secrets set {env} {hook.secret}` with the secret the git host signs with",
            )
        return env, value.encode()

    def repository(self, push: Push) -> str:
        """Where a webhook's commit is fetched from: ``triggers.repository``, else the event's."""
        chosen = self.spec().repository or push.repository
        if not chosen:
            raise ConflictError(
                "the push event names no clone URL and shipyard.yaml has no triggers.repository",
                "set `triggers.repository` to the repository's URL",
            )
        return chosen

    def audit(self, actor: str, env: str, target: str, source: str, result: str, detail: str) -> None:
        """A webhook's entry in the audit log (it has no user: its actor is ``webhook:<host>``)."""
        self.ctx.store.audit.append(
            actor, "trigger.webhook", env=env, target=target, source=source, result=result, detail=detail
        )

    # the job ---------------------------------------------------------------------------------------
    def run(self, push: Push, repository: str, by: str, deploy: Deploy, progress: Progress) -> dict[str, Any]:
        """Build ``push``'s commit, run its pipeline, deploy it by the branch rules."""
        manifest = self.ctx.reload_manifest()
        release, commit = self._build(push, repository, progress)
        answer: dict[str, Any] = {"release": release.id, "commit": commit.sha, "branch": push.branch}
        if manifest.pipeline is not None:
            self.pipelines.run(release.id, by, "push", progress)  # PipelineFailed names the stage
        rules = manifest.triggers.branches if manifest.triggers else {}
        env = deploy_target(rules, push.branch)
        if env is None:
            progress(f"branch {push.branch} matches no rule in triggers.branches: built, deployed nowhere")
            return answer | {"env": None, "deployment": None, "status": "built"}
        reason = f"{push.branch}@{commit.sha[:12]}: {commit.message}"[:500]
        progress(f"branch {push.branch} deploys to {env}")
        dep_id = deploy(env, by, release.id, kind="deploy", reason=reason)
        status = self._follow(dep_id, progress)
        return answer | {"env": env, "deployment": dep_id, "status": status}

    def _build(self, push: Push, repository: str, progress: Progress) -> tuple[Release, Commit]:
        ctx = self.ctx
        folder = ctx.paths.home / "triggers" / f"push-{push.sha[:12]}-{time.time_ns()}"
        progress(f"fetching {push.branch}@{push.sha[:12]}")
        try:
            commit = self.checkouts.checkout(repository, push.branch, push.sha, folder)
            progress(f"commit {commit.sha[:12]}: {commit.message}")
            started = time.monotonic()
            with ctx.locks.build:
                number = ctx.store.next_release_number()
                built = ctx.builder.build(folder, ctx.manifest, number, ctx.manifest_text, progress)
                release = with_config(ctx, built)
                ctx.store.add_release(release)
            ctx.store.pipelines.set_commit(release.id, commit.sha, commit.at, commit.message)
        finally:
            self.checkouts.remove(folder)
        progress(f"release {release.id} built in {time.monotonic() - started:.1f}s")
        return release, commit

    def _follow(self, dep_id: int, progress: Progress) -> str:
        """Say each step of deployment ``dep_id`` as it ends; its final status."""
        said = 0
        while True:
            dep = self.ctx.store.deployment(dep_id)
            for step in [s for s in dep.steps if s.finished_at is not None][said:]:
                progress(f"  {step.name}: {step.status} {step.detail}")
                said += 1
            if dep.status == WAITING:
                progress(f"deployment {dep_id} waits for approval (`shipyard approve {dep_id}`)")
                return dep.status
            if dep.status not in GOING:
                break
            time.sleep(0.2)
        if dep.status != "succeeded":
            raise DeployError(
                f"deployment {dep_id} to {dep.env} {dep.status}: {dep.error or ''}",
                dep.hint or f"see `shipyard deployments show {dep_id}`",
            )
        progress(f"deployment {dep_id}: {dep.release_id} serves {dep.env}")
        return dep.status
