"""The app's migrations: inside a deployment, and by hand (``shipyard migrate status|plan|up|down``).

In a deployment whose manifest names ``database.migrate.up``, two steps run after
``prepare`` and before the new instances start, under the deploy lock the deployment
holds: ``backup`` (a fresh pre-migrate backup, when the database exists) and ``migrate``
(the new release's command, in its folder and virtualenv, with the app's variables and
``DATABASE_URL``). If the migration fails, the backup is restored (steps ``fetch``,
``safety-backup``, ``restore``) and the deployment stops with the old version serving. By
hand, ``up``/``down`` run the serving release's command the same way, as a job recorded
like a deployment (kind ``migrate``), run as a job (``engine/jobs.py``) that reports each step.
``plan`` runs a release's ``migrate.plan`` command against the environment's database, with no
lock and no backup: the command itself promises not to change anything (Alembic's ``--sql``
does not even connect). It runs with the environment's secrets, so only a release that may
reach the environment is planned: the serving one, or one that passed the environment before
it on the promotion path (``core/promotion.py``'s decision, as if ``require_previous`` were
set); by default the newest such release. By hand, the secrets a command reads are audited
under the name of the user who asked. Called by ``deploy.py``, the engine and the API.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from shipyard.core.backups import BackupRecord
from shipyard.core.jobs import Progress, no_progress
from shipyard.core.promotion import Passed, check_promotion, previous_env
from shipyard.core.records import Release
from shipyard.drivers.runtime.interface import CommandResult, OneOff
from shipyard.engine.context import Context
from shipyard.engine.data.backups import BackupService, StepFn
from shipyard.engine.data.database import AppDatabases
from shipyard.engine.delivery.appenv import app_environment
from shipyard.engine.delivery.maintenance import MaintenanceSwitch
from shipyard.engine.jobs import locked_job, run_step
from shipyard.errors import ConflictError, DeployError, NotFoundError
from shipyard.manifest.database import Migrate

DIRECTIONS = ("up", "down")


class Migrations:
    def __init__(
        self, ctx: Context, backups: BackupService, databases: AppDatabases, pages: MaintenanceSwitch
    ) -> None:
        self.ctx = ctx
        self.backups = backups
        self.databases = databases
        self.pages = pages  # the maintenance page, on around a migration that asks for it

    def spec(self, env: str) -> Migrate | None:
        return self.ctx.manifest.database_for(env).migrate

    def _spec_or_error(self, env: str) -> Migrate:
        if env not in self.ctx.manifest.environments:
            raise NotFoundError(
                f"environment {env!r} is not in shipyard.yaml", "pick one of its environments"
            )
        spec = self.spec(env)
        if spec is None:
            raise ConflictError(
                f"{env} has no migration commands",
                "name them in shipyard.yaml: database.migrate.up (and .down, .status)",
            )
        return spec

    def _run(
        self, env: str, release: Release, command: str, timeout: float, actor: str = "runtime", what: str = ""
    ) -> CommandResult:
        ctx = self.ctx
        purpose = f"migration{' ' + what if what else ''} {env} {release.id}"
        variables = app_environment(ctx, self.databases, release, env, purpose, actor)
        return ctx.runtime.run_once(OneOff(env, release, command, variables, timeout))

    def _serving(self, env: str) -> Release:
        route = self.ctx.store.route(env)
        if route.active_release is None:
            raise ConflictError(
                f"nothing is deployed to {env}, so no release's migrations can run",
                f"`shipyard deploy {env}` runs them as part of the deployment",
            )
        return self.ctx.store.release(route.active_release)

    # by hand -------------------------------------------------------------------------------------
    def status(self, env: str, by: str) -> dict[str, Any]:
        spec = self._spec_or_error(env)
        if spec.status is None:
            raise ConflictError(
                f"{env} has no migration status command", "name it in shipyard.yaml: database.migrate.status"
            )
        release = self._serving(env)
        result = self._run(env, release, spec.status, spec.timeout, by, "status")
        return {"release": release.id, "code": result.code, "output": result.output}

    def plan(self, env: str, release_id: str | None, by: str) -> dict[str, Any]:
        """The SQL a release's pending migrations would run on ``env``, printed by ``migrate.plan``."""
        spec = self._spec_or_error(env)
        if spec.plan is None:
            raise ConflictError(
                f"{env} has no migration plan command",
                "name it in shipyard.yaml: database.migrate.plan (e.g. `alembic upgrade head --sql`)",
            )
        release = self.plannable(env, release_id)
        result = self._run(env, release, spec.plan, spec.timeout, by, "plan")
        if not result.ok:
            why = "timed out" if result.code is None else f"exited with {result.code}"
            raise DeployError(
                f"migration plan `{spec.plan}` of {release.id} {why}; its last output:\n{result.output}",
                f"fix the command, or run it by hand in the release's folder {release.path}",
            )
        return {"release": release.id, "output": result.output}

    def plannable(self, env: str, release_id: str | None) -> Release:
        """``release_id``, or the newest release, if it may reach ``env`` (else refused)."""
        refusal = self._refusal(env)
        if release_id is not None:
            release = self.ctx.store.release(release_id)
            refused = refusal(release)
            if refused is not None:
                raise refused
            return release
        for release in self.ctx.store.releases():  # newest first
            if refusal(release) is None:
                return release
        raise ConflictError(
            f"no release may be planned on {env}: none serves it, and none passed the environment "
            "before it on the promotion path",
            f"deploy {env} first (`shipyard deploy {env}` or `shipyard promote RELEASE --to {env}`)",
        )

    def _refusal(self, env: str) -> Callable[[Release], ConflictError | None]:
        """Why a release's plan may not run with ``env``'s secrets, or None: it serves ``env``, or
        it passed the environment before ``env`` on the promotion path."""
        store, manifest = self.ctx.store, self.ctx.manifest
        builds = {r.id: r.base_release or r.id for r in store.releases()}
        serving = store.route(env).active_release
        path = manifest.promotion.path if manifest.promotion else None
        before = previous_env(path, env) if path and env in path else None
        history = [
            Passed(d.env, builds.get(d.release_id or "", d.release_id), d.status)
            for d in (store.deployments(before, limit=10000) if before else [])
        ]

        def refusal(release: Release) -> ConflictError | None:
            build = builds.get(release.id, release.id)
            if serving is not None and builds.get(serving, serving) == build:
                return None
            if path is None or env not in path:
                return ConflictError(
                    f"{release.id} does not serve {env}, and {env} is on no promotion path, so only its "
                    f"serving release ({serving or 'none'}) may be planned there",
                    f"plan the serving release (leave out --release), or deploy {release.id} to {env} first",
                )
            try:
                check_promotion(path, True, env, build, history)
            except ConflictError as exc:
                return ConflictError(
                    f"cannot plan {release.id}'s migrations on {env}: {exc.message}",
                    f"plan the serving release (leave out --release), or {exc.hint}",
                )
            return None

        return refusal

    def run(self, env: str, direction: str, by: str, progress: Progress = no_progress) -> dict[str, Any]:
        if direction not in DIRECTIONS:
            raise NotFoundError(f"unknown migration direction {direction!r}", "use up or down")
        spec = self._spec_or_error(env)
        command = spec.up if direction == "up" else spec.down
        if command is None:
            raise ConflictError(
                f"{env} has no migrate.down command", "name it in shipyard.yaml: database.migrate.down"
            )
        release = self._serving(env)
        with locked_job(self.ctx, env, "migrate", by, f"{direction} ({release.id})") as dep_id:

            def step(name: str, fn: Any) -> Any:
                return run_step(self.ctx, dep_id, name, fn, progress)

            output = self.migrate(step, env, release, command, spec.timeout, direction, by)
        return {"deployment": dep_id, "release": release.id, "output": output}

    # inside a deployment ---------------------------------------------------------------------
    def migrate(
        self,
        step: StepFn,
        env: str,
        release: Release,
        command: str,
        timeout: float,
        direction: str = "up",
        actor: str = "runtime",
    ) -> str:
        """Backup, then the command; on failure restore the backup. ``step`` records each part.
        With ``database.migrate.maintenance``, all of it behind the maintenance page."""
        with self._page(env, f"migrate {direction} of {release.id}"):
            backup: BackupRecord | None = step("backup", lambda: self._backup(env, direction))
            restore_hint = (
                f"the database is restored from backup {backup.id} and the old version kept serving; "
                if backup
                else "the old version kept serving; "
            )

            def run() -> tuple[str, str]:
                result = self._run(env, release, command, timeout, actor, direction)
                if result.ok:
                    said = (
                        "; ".join(line for line in result.output.splitlines() if line.strip()) or "no output"
                    )
                    said = said if len(said) <= 300 else "..." + said[-297:]
                    return result.output, f"`{command}` ({release.id}) in {result.seconds:.2f}s: {said}"
                why = "timed out" if result.code is None else f"exited with {result.code}"
                raise DeployError(
                    f"migration `{command}` of {release.id} {why}; its last output:\n{result.output}",
                    restore_hint
                    + f"fix the migration, then deploy again; full output in {env}'s migrate.log",
                )

            try:
                output: str = step("migrate", run)
            except Exception:
                if backup is not None:
                    self.backups.restore_locked(backup, env, step)
                raise
            return output

    def _page(self, env: str, why: str) -> AbstractContextManager[None]:
        """The maintenance page while a migration runs, when ``database.migrate.maintenance`` asks."""
        spec = self.spec(env)
        return self.pages.during(env, why) if spec is not None and spec.maintenance else nullcontext()

    def _backup(self, env: str, direction: str) -> tuple[BackupRecord | None, str]:
        if not self.databases.exists(env):
            return None, f"{env} has no database yet: nothing to back up"
        record = self.backups.create(env, "pre-migrate", f"before migrate {direction}")
        return record, f"backup {record.id} ({record.size} bytes) in {record.duration_s:.2f}s"
