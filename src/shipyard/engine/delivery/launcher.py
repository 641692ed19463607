"""Runs each deployment on its own thread and announces how it ended.

``Engine.deploy`` and ``Approvals.approve`` (an approved deployment) call ``launch`` once the
environment's lock is taken; ``close`` waits a moment for the threads at shutdown. Each
``Deployment`` gets the control plane's one ``AppDatabases`` and ``Migrations``.
"""

from __future__ import annotations

import threading

from shipyard.engine.context import Context
from shipyard.engine.data.database import AppDatabases
from shipyard.engine.data.migrations import Migrations
from shipyard.engine.delivery.deploy import Deployment
from shipyard.engine.pipeline.gate import BuildGate


class Launcher:
    def __init__(
        self,
        ctx: Context,
        databases: AppDatabases,
        migrations: Migrations,
        pipelines: BuildGate | None = None,
    ) -> None:
        self.ctx = ctx
        self.pipelines = pipelines  # runs the pipeline on each new build
        self.databases = databases  # each deployment's, with the one Migrations
        self.migrations = migrations
        self._threads: list[threading.Thread] = []

    def launch(self, dep_id: int, env: str, release_id: str | None, kind: str | None = None) -> None:
        dep = self.ctx.store.deployment(dep_id)
        job = Deployment(self.ctx, self.databases, self.migrations, dep_id, env, release_id, kind or dep.kind)
        job.pipelines = self.pipelines
        self.ctx.notify(dep_id, env, "deployment.started", dep.reason or dep.kind)
        thread = threading.Thread(target=lambda: self._run(job), name=f"deploy-{dep_id}", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _run(self, job: Deployment) -> None:
        """Run a deployment, then announce how it ended (a canary's rollout announced its own)."""
        job.run()
        dep = self.ctx.store.deployment(job.dep_id)
        if dep.status != "running" and self.ctx.store.rollout(job.dep_id) is None:
            self.ctx.notify(job.dep_id, job.env, f"deployment.{dep.status}", dep.error or "")

    def close(self) -> None:
        for thread in self._threads:
            thread.join(timeout=1)
