"""One run of a scheduled job: recorded, run through the runtime as a one-off command of the
serving release, its end recorded, a failure announced.

``CronScheduler`` (``scheduler.py``) launches each run on a thread of its own. The command
gets the release's environment (``appenv.app_environment``: configuration, secrets,
``DATABASE_URL``), runs in the release through ``Runtime.run_once`` (its output in the central
logs as ``cron-<job>``) and is killed at the job's ``timeout``. A run that fails or times out
sends a ``cron.failed`` or ``cron.timed_out`` event to the deployment event receivers.
"""

from __future__ import annotations

import threading
import time

from shipyard.core.cron_jobs import FAILED, FAILURES, CronRun, outcome
from shipyard.drivers.runtime.interface import OneOff
from shipyard.engine.context import Context
from shipyard.engine.data.database import AppDatabases
from shipyard.engine.delivery.appenv import app_environment
from shipyard.errors import ShipyardError
from shipyard.manifest.cron import CronJob

OUTPUT_LINES = 20  # the output tail a run's record keeps


class CronRunner:
    def __init__(self, ctx: Context, databases: AppDatabases) -> None:
        self.ctx = ctx
        self.databases = databases
        self._running: dict[tuple[str, str], int] = {}
        self._guard = threading.Lock()

    def running(self, env: str, job: str) -> int:
        with self._guard:
            return self._running.get((env, job), 0)

    def launch(self, env: str, name: str, job: CronJob, trigger: str, by: str, fire: float | None) -> CronRun:
        """Record the run and start it on its thread (the release serving ``env`` now)."""
        release = self.ctx.store.release(self.ctx.store.route(env).active_release or "")
        run = self.ctx.store.cron.begin(env, name, release.id, trigger, by, fire)
        with self._guard:
            self._running[(env, name)] = self._running.get((env, name), 0) + 1
        threading.Thread(
            target=self._execute, args=(run, job), name=f"cron-{env}-{name}", daemon=True
        ).start()
        return run

    def _execute(self, run: CronRun, job: CronJob) -> None:
        ctx = self.ctx
        try:
            release = ctx.store.release(run.release_id)
            variables = app_environment(ctx, self.databases, release, run.env, f"cron {run.env}/{run.job}")
            one = OneOff(
                run.env, release, job.command, variables, job.timeout, f"check jobs.{run.job}.command",
                name=f"cron-{run.job}",
            )  # fmt: skip
            result = ctx.runtime.run_once(one)
            tail = "\n".join(result.output.splitlines()[-OUTPUT_LINES:])
            finished = ctx.store.cron.finish(run.id, outcome(result.code), result.code, tail)
        except ShipyardError as exc:
            finished = ctx.store.cron.finish(run.id, FAILED, None, f"{exc.message} ({exc.hint})")
        except Exception as exc:  # a bug must still end the run's record
            finished = ctx.store.cron.finish(run.id, FAILED, None, f"internal error: {exc!r}")
        finally:
            with self._guard:
                self._running[(run.env, run.job)] -= 1
        if finished.status in FAILURES:
            self._announce(finished)

    def _announce(self, run: CronRun) -> None:
        """A ``cron.<status>`` event to the receivers of deployment events."""
        if self.ctx.notifier is None:
            return
        code = "killed at its timeout" if run.exit_code is None else f"exit status {run.exit_code}"
        last = run.output.splitlines()[-1] if run.output else ""
        event = {
            "event": f"cron.{run.status}",
            "app": self.ctx.manifest.app,
            "env": run.env,
            "job": run.job,
            "run": run.id,
            "release": run.release_id,
            "status": run.status,
            "reason": f"job {run.job} {run.status.replace('_', ' ')} ({code}): {last}",
            "at": time.time(),
        }
        self.ctx.notifier.deployment_event(self.ctx.manifest, event, lambda ok, message: None)
