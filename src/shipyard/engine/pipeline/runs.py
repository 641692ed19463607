"""Pipeline runs: a release's stages in order (in parallel where ``needs`` allows), recorded.

``Pipelines`` is the service the API, the deploy step and (later) a git push or webhook
trigger call: ``run`` executes a run for a release and returns its outcome (the API runs it
as a job, ``server/pipeline.py``; a deployment of a new build runs it as its ``pipeline``
step, ``gate_new_build``); ``check_deployable`` refuses a release whose build has not passed
(``core/pipeline/verdict.py``); ``record_commit`` keeps the git commit of a new build for the
delivery figures. Each stage runs on a worker thread (``stages.run_stage``) as soon as its
needs passed; its result is stored as it ends, so ``shipyard pipeline show`` follows a run.
"""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.core.jobs import Progress, no_progress
from shipyard.core.pipeline.plan import FAILED, PASSED, RUNNING, SKIPPED, next_stages, outcome
from shipyard.core.pipeline.verdict import check_deployable
from shipyard.core.records import Release
from shipyard.drivers.pipeline.interface import Workbench
from shipyard.engine.context import Context
from shipyard.engine.delivery.config import resolve_names
from shipyard.engine.pipeline.gate import Note
from shipyard.engine.pipeline.stages import LineSink, StageJob, StageResult, run_stage, stage_row
from shipyard.engine.pipeline.verify import Verifier
from shipyard.errors import ConflictError, DeployError, ShipyardError
from shipyard.manifest.models import Manifest
from shipyard.manifest.pipeline import Pipeline

MAX_PARALLEL = 4


class PipelineFailed(ShipyardError):
    """A run ended failed: the message names the stage and the figure against its threshold."""


def pipeline_env(manifest: Manifest) -> str:
    """The environment a run belongs to: ``pipeline.environment``, else the first of the
    promotion path, else the first environment (its ``deploy`` permission runs the pipeline)."""
    if manifest.pipeline and manifest.pipeline.environment:
        return manifest.pipeline.environment
    if manifest.promotion:
        return manifest.promotion.path[0]
    return next(iter(manifest.environments))


class Pipelines:
    def __init__(
        self, ctx: Context, bench: Workbench, sink: LineSink | None = None, verifier: Verifier | None = None
    ) -> None:
        self.ctx = ctx
        self.bench = bench
        self.sink = sink
        self.verifier = verifier  # post-deploy verification (environments.<name>.verify)

    # reads ---------------------------------------------------------------------------------------
    def runs(self, limit: int, release_id: str | None = None) -> list[dict[str, Any]]:
        return self.ctx.store.pipelines.runs(limit, release_id)

    def show(self, run_id: int) -> dict[str, Any]:
        return self.ctx.store.pipelines.run(run_id)

    def env(self) -> str:
        return pipeline_env(self.ctx.reload_manifest())

    def interrupt_at_start(self) -> list[str]:
        ids = self.ctx.store.pipelines.interrupt_active()
        for run_id in ids:
            self.bench.remove(self.bench.folder(run_id))  # the scratch copy it left
        return [f"pipeline run {i} was cut short by a restart: marked interrupted" for i in ids]

    # the gate of deployments ------------------------------------------------------------------------
    def check_deployable(self, release_id: str, env: str) -> None:
        """Refuse ``release_id`` for ``env`` unless its build passed the pipeline (when there is one)."""
        release = self.ctx.store.release(release_id)
        latest = self.ctx.store.pipelines.latest(release.base_release or release.id)
        check_deployable(release.id, env, self.ctx.manifest.pipeline is not None, latest)

    def record_commit(self, release: Release) -> None:
        """Keep the git commit a new build was made from, when its source is a checkout."""
        commit = self.bench.commit_of(Path(release.source))
        if commit is not None:
            self.ctx.store.pipelines.set_commit(release.id, commit.sha, commit.at, commit.message)

    def built(self, release: Release) -> bool:
        """After a deployment's build: keep its commit; whether its ``pipeline`` step runs."""
        self.record_commit(release)
        return self.ctx.manifest.pipeline is not None

    def gate_new_build(self, release: Release, note: Note) -> tuple[None, str]:
        """A deployment's ``pipeline`` step for the release it just built."""
        try:
            done = self.run(release.id, "deploy", "deploy", lambda line: note("pipeline", line))
        except PipelineFailed as failed:
            raise DeployError(failed.message, failed.hint) from None
        return None, f"pipeline run {done['run']} passed ({', '.join(done['stages'])})"

    def verify(self, dep_id: int, env: str, release: Release, note: Note) -> None:
        """A deployment's ``verify`` step, after its switch (``verify.py``)."""
        if self.verifier is not None:
            self.verifier.verify(dep_id, env, release, note)

    # running ---------------------------------------------------------------------------------------
    def check_runnable(self, release_id: str) -> Pipeline:
        spec = self.ctx.reload_manifest().pipeline
        if spec is None:
            raise ConflictError(
                "shipyard.yaml has no pipeline",
                "add `pipeline: {stages: {test: {commands: [pytest]}}}` to shipyard.yaml",
            )
        self.ctx.store.release(release_id)  # NotFoundError names the fix
        return spec

    def run(self, release_id: str, by: str, trigger: str, progress: Progress = no_progress) -> dict[str, Any]:
        """Run the pipeline for ``release_id``; its outcome, or ``PipelineFailed`` naming the stage."""
        spec = self.check_runnable(release_id)
        release = self.ctx.store.release(release_id)
        store = self.ctx.store.pipelines
        env = pipeline_env(self.ctx.manifest)
        run_id = store.create(
            release.id, release.base_release or release.id, env, by, trigger, list(spec.stages)
        )
        progress(f"pipeline run {run_id} of {release.id}: stages {', '.join(spec.stages)}")
        return PipelineRun(self, run_id, spec, release, env, progress).execute()

    def variables(self, spec: Pipeline, release: Release, run_id: int, stage: str) -> dict[str, str]:
        """A stage's environment: the plain configuration of ``pipeline.environment`` (a value
        that uses a secret is left out), ``env``, ``pipeline.env``, then Shipyard's own."""
        plain: dict[str, str] = {}
        if spec.environment is not None:
            settings, _problems = resolve_names(self.ctx, spec.environment)
            plain = {k: s.value for k, s in settings.items() if not s.secrets}
            plain |= self.ctx.manifest.env_vars(spec.environment)
        else:
            plain = dict(self.ctx.manifest.env)
        return (
            plain
            | dict(spec.env)
            | {
                "CI": "true",
                "SHIPYARD_PIPELINE_RUN": str(run_id),
                "SHIPYARD_STAGE": stage,
                "SHIPYARD_RELEASE": release.id,
            }
        )


@dataclass
class PipelineRun:
    """One run: stages started as their needs pass, each result stored as it ends."""

    owner: Pipelines
    run_id: int
    spec: Pipeline
    release: Release
    env: str
    progress: Progress
    status: dict[str, str] = field(default_factory=dict)  # stage -> waiting/running/passed/...
    results: dict[str, StageResult] = field(default_factory=dict)

    def execute(self) -> dict[str, Any]:
        store = self.owner.ctx.store.pipelines
        store.update_run(self.run_id, status=RUNNING, started_at=time.time())
        folder = None
        try:
            folder = self.owner.bench.prepare(self.release, self.run_id)
            self._stages(folder)
        except Exception as exc:
            store.update_run(
                self.run_id,
                status=FAILED,
                finished_at=time.time(),
                message=f"internal error ({type(exc).__name__})",
            )
            raise
        finally:
            if folder is not None:
                self.owner.bench.remove(folder)
        return self._finish()

    def _stages(self, folder: Path) -> None:
        needs = {name: stage.needs for name, stage in self.spec.stages.items()}
        running: dict[Future[StageResult], str] = {}
        with ThreadPoolExecutor(MAX_PARALLEL, thread_name_prefix=f"pipeline-{self.run_id}") as pool:
            while True:
                start, skip = next_stages(needs, self.status)
                if skip:
                    for name in skip:
                        self._skip(name)
                    continue
                for name in start:
                    self.status[name] = RUNNING
                    running[pool.submit(self._stage, name, folder)] = name
                if not running:
                    return
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    self._ended(name, future.result())

    def _skip(self, name: str) -> None:
        self.status[name] = SKIPPED
        failed = [n for n in self.spec.stages[name].needs if self.status.get(n) != PASSED]
        self.owner.ctx.store.pipelines.update_stage(
            self.run_id, name, status=SKIPPED, detail=f"skipped: {', '.join(failed)} did not pass"
        )
        self.progress(f"stage {name} skipped: {', '.join(failed)} did not pass")

    def _stage(self, name: str, folder: Path) -> StageResult:
        self.owner.ctx.store.pipelines.update_stage(self.run_id, name, status=RUNNING, started_at=time.time())
        self.progress(f"stage {name} started")
        job = StageJob(
            self.run_id, self.env, name, self.spec.stages[name], self.release, folder,
            self.owner.ctx.paths.home / "pipelines" / "logs" / f"run-{self.run_id}" / f"{name}.log",
            self.owner.variables(self.spec, self.release, self.run_id, name),
        )  # fmt: skip
        try:
            return run_stage(job, self.owner.bench, self.owner.sink, self.progress)
        except ShipyardError as exc:
            return StageResult(FAILED, f"stage {name}: {exc.message}")

    def _ended(self, name: str, result: StageResult) -> None:
        self.status[name] = result.status
        self.results[name] = result
        self.owner.ctx.store.pipelines.update_stage(self.run_id, name, **stage_row(result))
        said = result.detail if result.status == PASSED else result.failure()
        self.progress(f"stage {name} {result.status}: {said}")

    def _finish(self) -> dict[str, Any]:
        verdict = outcome(self.status)
        failed = next((n for n in self.spec.stages if self.status.get(n) == FAILED), None)
        message = self.results[failed].failure() if failed else ""
        self.owner.ctx.store.pipelines.update_run(
            self.run_id, status=verdict, finished_at=time.time(), failed_stage=failed, message=message
        )
        self.progress(f"pipeline run {self.run_id} {verdict}")
        if verdict != PASSED:
            raise PipelineFailed(
                f"release {self.release.id} failed its pipeline (run {self.run_id}) "
                f"at stage {failed}: {message}",
                f"see `shipyard pipeline show {self.run_id}`; fix the app and deploy a new release, or "
                f"rerun with `shipyard pipeline run {self.release.id}`",
            )
        return {
            "run": self.run_id,
            "release": self.release.id,
            "status": verdict,
            "stages": list(self.spec.stages),
        }
