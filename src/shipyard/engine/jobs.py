"""Long operations as jobs of the control plane, and the deploy lock they hold.

``JobRunner`` runs a backup, a verification, a restore, a drill or a migration by hand on a
thread of its own: the API records the job (``queued``) and answers at once; the thread marks
it ``running``, hands the operation a progress callback (each line kept with its time) and
records the outcome (``succeeded`` with its result, or ``failed`` with the error and hint). A
job outlives the CLI that asked for it; a restart of the control plane marks the jobs it cut
short ``interrupted``, with a hint saying what state the data is in (``core/jobs.py``).
Jobs take no lock of their own: each operation takes the lock it always took (an
environment's backup lock, a drill's, or the deploy lock below).

A restore or a ``shipyard migrate up|down`` is also recorded as a deployment of kind
``restore`` or ``migrate`` (``locked_job``): it takes the environment's lock (so no deployment
runs a migration meanwhile), each step is timed and kept, and ``shipyard deployments`` shows
it. Called by the engine, ``engine/data/backups.py`` and ``engine/data/migrations.py``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

from shipyard.core.jobs import FAILED, SUCCEEDED, Job, Progress, interrupted_hint, no_progress
from shipyard.core.records import NewDeployment
from shipyard.engine.context import Context
from shipyard.errors import ShipyardError

T = TypeVar("T")
Operation = Callable[[Progress], dict[str, Any]]
log = logging.getLogger("shipyard.jobs")


class JobRunner:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def recent(self, env: str | None, limit: int) -> list[Job]:
        """The newest ``limit`` jobs, of ``env`` or of every environment."""
        return self.ctx.store.jobs.jobs(env, limit)

    def get(self, job_id: int) -> Job:
        return self.ctx.store.jobs.job(job_id)  # NotFoundError names the fix

    def progress(self, job_id: int, after: int) -> list[dict[str, Any]]:
        """The job's progress lines after the cursor ``after``."""
        return self.ctx.store.jobs.lines(job_id, after)

    def interrupt_at_start(self) -> list[str]:
        """Mark the jobs a stopped control plane left queued or running as interrupted, and audit
        that their action failed (as ``on_failure`` would have, under the requester's name)."""
        found = self.ctx.store.jobs.interrupt_active(interrupted_hint)
        for job in found:
            with suppress(ShipyardError):  # the job's own record says what happened
                self.ctx.store.audit.append(
                    job.requested_by, job.kind, env=job.env, result="error", detail=interrupted_hint(job)[0]
                )
        return [
            f"job {j.id} ({j.kind} of {j.env}) was cut short by a restart: marked interrupted" for j in found
        ]

    def submit(
        self,
        kind: str,
        env: str,
        args: dict[str, Any],
        by: str,
        operation: Operation,
        on_failure: Callable[[ShipyardError], None] | None = None,
    ) -> Job:
        """Record a job and start it; ``on_failure`` (the audit of the failure) runs if it fails."""
        job = self.ctx.store.jobs.create(kind, env, args, by)
        threading.Thread(
            target=self._run, args=(job.id, operation, on_failure), name=f"job-{job.id}", daemon=True
        ).start()  # a daemon: a stopping control plane does not wait; its restart marks the job
        return job

    def _run(
        self, job_id: int, operation: Operation, on_failure: Callable[[ShipyardError], None] | None
    ) -> None:
        jobs = self.ctx.store.jobs
        jobs.start(job_id)
        try:
            result = operation(lambda line: jobs.progress(job_id, line))
        except Exception as exc:
            failure = exc if isinstance(exc, ShipyardError) else _internal(exc)
            if not isinstance(exc, ShipyardError):
                log.exception("job %s failed", job_id)
            jobs.finish(job_id, FAILED, error=failure.message, hint=failure.hint)
            if on_failure is not None:
                on_failure(failure)
            return
        jobs.finish(job_id, SUCCEEDED, result=result)


def _internal(exc: Exception) -> ShipyardError:
    """A bug, named by its type only: its text may hold anything (a value, a secret), and the job's
    error is shown to API readers and written to the audit log."""
    return ShipyardError(
        f"internal error ({type(exc).__name__})",
        "report this as a bug; the control plane's log has the traceback",
    )


def run_step(
    ctx: Context,
    dep_id: int,
    name: str,
    action: Callable[[], tuple[T, str]],
    progress: Progress = no_progress,
) -> T:
    """Run one recorded step: its start, outcome, detail and timing (also as progress lines)."""
    step_id = ctx.store.start_step(dep_id, name)
    progress(name)
    started = time.monotonic()
    try:
        value, detail = action()
    except ShipyardError as exc:
        ctx.store.finish_step(dep_id, step_id, name, "failed", exc.message)
        progress(f"{name} failed: {exc.message}")
        raise
    detail = detail or f"{time.monotonic() - started:.2f}s"
    ctx.store.finish_step(dep_id, step_id, name, "ok", detail)
    progress(f"{name} done: {detail}")
    return value


@contextmanager
def locked_job(ctx: Context, env: str, kind: str, by: str, reason: str) -> Iterator[int]:
    """Hold ``env``'s deploy lock for a job recorded as a deployment of ``kind``."""
    route = ctx.store.route(env)
    dep_id = ctx.store.begin_deployment(
        NewDeployment(env, kind, by, route.active_release, route.active_release, reason), ctx.owner
    )
    try:
        yield dep_id
    except ShipyardError as exc:
        ctx.store.finish_deployment(dep_id, "failed", exc.message, exc.hint)
        raise
    except BaseException as exc:
        ctx.store.finish_deployment(dep_id, "failed", f"internal error: {exc!r}", "report this as a bug")
        raise
    ctx.store.finish_deployment(dep_id, "succeeded")
