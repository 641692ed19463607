"""The cron scheduler: runs each of the manifest's ``jobs:`` on its schedule, in every
environment it names, as a one-off command of the release serving there.

A loop (every ``tick``) asks ``core/cron_jobs.py`` whether each (environment, job) is due
since the last fire time it ran for (kept in memory, read back from the run history at start,
so a restarted control plane runs a missed job once: trigger ``missed``); ``forbid`` skips a
fire time while a run is going; nothing runs where nothing is deployed. Each run is one thread
(``runner.py``). ``run_now`` is ``shipyard cron run``. Started and stopped by the engine; the
API reads ``jobs`` and the history through it. Not to be confused with ``engine/jobs.py``
(long operations on request) or the backup scheduler (``engine/data/schedule.py``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from shipyard.core.cron import next_after
from shipyard.core.cron_jobs import CronRun, due_fire_time, failing, may_start, too_late
from shipyard.drivers.loops import Loop, LoopOwner
from shipyard.engine.context import Context
from shipyard.engine.cron.runner import CronRunner
from shipyard.engine.data.database import AppDatabases
from shipyard.errors import ConflictError, NotFoundError
from shipyard.manifest.cron import CronJob

Key = tuple[str, str]  # (environment, job)


class CronScheduler(LoopOwner):
    def __init__(
        self, ctx: Context, databases: AppDatabases, tick: float = 0.5, clock: Callable[[], float] = time.time
    ) -> None:
        self.ctx = ctx
        self.clock = clock
        self.runner = CronRunner(ctx, databases)
        self.since = clock()  # fire times before this were missed while the control plane was down
        self._last: dict[Key, float] = {}
        self._guard = threading.Lock()
        self.loop = Loop("cron", self._tick, tick)

    def start(self) -> list[str]:
        """Mark runs a stopped control plane cut short, resume from the history, start the loop."""
        done = []
        if cut := self.ctx.store.cron.interrupt_running():
            done.append(f"{cut} scheduled job run(s) were interrupted by the stop")
        self.since = self.clock()
        self._last = self.ctx.store.cron.last_fired()
        self.loop.start()
        return done

    def stop(self) -> None:
        self.loop.stop()

    def _tick(self) -> None:
        now = self.clock()
        for env, name, job in self._jobs():
            key = (env, name)
            with self._guard:
                last = self._last.setdefault(key, now)  # first sight: wait for the next fire time
                fire = due_fire_time(job.schedule, last, now)
                if fire is None:
                    continue
                if last < self.since and (missed := due_fire_time(job.schedule, last, self.since)):
                    fire = missed  # the run missed while down first, however late the first tick
                self._last[key] = fire
            if too_late(fire, now, job.starting_deadline):
                self.loop.note(
                    f"{env}/{name}: the run due at {_utc(fire)} is past starting_deadline; skipped"
                )
            elif not may_start(job.concurrency, self.runner.running(env, name)):
                self.loop.note(f"{env}/{name}: the run due at {_utc(fire)} skipped (a run is still going)")
            elif self.ctx.store.route(env).active_release is not None:
                trigger = "missed" if fire < self.since else "schedule"
                self.runner.launch(env, name, job, trigger, "cron", fire)

    def _jobs(self) -> list[tuple[str, str, CronJob]]:
        manifest = self.ctx.manifest
        return [
            (env, name, job)
            for env in manifest.environments
            for name, job in manifest.jobs.items()
            if job.runs_in(env)
        ]

    # what the API calls ----------------------------------------------------------------------
    def run_now(self, env: str, name: str, by: str) -> CronRun:
        """``shipyard cron run``: the job now, in the serving release (its history says manual)."""
        job = self._job(env, name)
        if not may_start(job.concurrency, self.runner.running(env, name)):
            raise ConflictError(
                f"job {name} is already running in {env} (concurrency: forbid)",
                f"wait for it (`shipyard cron history {env} {name}`), or set jobs.{name}.concurrency: allow",
            )
        if self.ctx.store.route(env).active_release is None:
            raise ConflictError(f"nothing is deployed in {env}", f"deploy first: `shipyard deploy {env}`")
        return self.runner.launch(env, name, job, "manual", by, None)

    def jobs(self, env: str) -> list[dict[str, Any]]:
        """Each job of ``env``: its schedule, next fire time, whether it runs, its last run."""
        self._env(env)
        now = self.clock()
        latest = self.ctx.store.cron.latest(env)
        return [
            {
                "name": name,
                "schedule": job.schedule,
                "timeout": job.timeout,
                "concurrency": job.concurrency,
                "next_at": next_after(job.schedule, now),
                "running": self.runner.running(env, name),
                "last": latest[name].to_json() if name in latest else None,
            }
            for e, name, job in self._jobs()
            if e == env
        ]

    def history(self, env: str, job: str | None, limit: int) -> list[CronRun]:
        self._env(env)
        return self.ctx.store.cron.runs(env, job, limit)

    def run(self, env: str, run_id: int) -> CronRun:
        run = self.ctx.store.cron.run(run_id)
        if run.env != env:
            raise NotFoundError(f"cron run {run_id} is not {env}'s", f"see `shipyard cron history {env}`")
        return run

    def failing(self, env: str, _now: float) -> float:
        """The ``cron_failing`` metric: jobs of ``env`` whose latest finished run failed."""
        names = {name for e, name, _ in self._jobs() if e == env}
        latest = self.ctx.store.cron.latest(env, finished_only=True)
        return float(failing({name: run for name, run in latest.items() if name in names}))

    def _job(self, env: str, name: str) -> CronJob:
        self._env(env)
        job = self.ctx.manifest.jobs.get(name)
        if job is None or not job.runs_in(env):
            known = ", ".join(sorted(n for e, n, _ in self._jobs() if e == env)) or "none"
            raise NotFoundError(
                f"job {name!r} does not run in {env} (its jobs: {known})",
                "jobs are defined under `jobs:` in shipyard.yaml; `shipyard cron list ENV` lists them",
            )
        return job

    def _env(self, env: str) -> None:
        if env not in self.ctx.manifest.environments:
            raise NotFoundError(
                f"environment {env!r} is not in shipyard.yaml", "pick one of its environments"
            )


def _utc(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))
