"""The app's migrations: inside a deployment, and by hand (``shipyard migrate status|plan|up|down``).

In a deployment whose manifest names ``database.migrate.up``, two steps run after
``prepare`` and before the new instances start, under the deploy lock the deployment
holds: ``backup`` (a fresh pre-migrate backup, when the database exists) and ``migrate``
(the new release's command, in its folder and virtualenv, with the app's variables and
``DATABASE_URL``). If the migration fails, the backup is restored (steps ``fetch``,
``safety-backup``, ``restore``) and the deployment stops with the old version serving. By
hand, ``up``/``down`` run the serving release's command the same way, as a job recorded
like a deployment (kind ``migrate``). ``plan`` runs a release's ``migrate.plan`` command (by
default the newest release: what the next deployment would migrate with) against the
environment's database, with no lock and no backup: the command itself promises not to
change anything (Alembic's ``--sql`` does not even connect). Called by ``deploy.py``, the
engine and the API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shipyard.core.backups import BackupRecord
from shipyard.core.records import Release
from shipyard.drivers.commands import CommandResult, run_command
from shipyard.engine.appenv import app_environment
from shipyard.engine.backups import BackupService, StepFn
from shipyard.engine.context import Context
from shipyard.engine.database import database_exists
from shipyard.engine.jobs import locked_job, run_step
from shipyard.errors import ConflictError, DeployError, NotFoundError
from shipyard.manifest.database import Migrate

DIRECTIONS = ("up", "down")


class Migrations:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.backups = BackupService(ctx)

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

    def _run(self, env: str, release: Release, command: str, timeout: float) -> CommandResult:
        ctx = self.ctx
        variables = app_environment(ctx, release, env, f"migration {env} {release.id}")
        root = Path(release.path)
        log = ctx.paths.home / "envs" / env / "logs" / "migrate.log"
        return run_command(command, root / "app", root / "venv", variables, log, timeout)

    def _serving(self, env: str) -> Release:
        route = self.ctx.store.route(env)
        if route.active_release is None:
            raise ConflictError(
                f"nothing is deployed to {env}, so no release's migrations can run",
                f"`shipyard deploy {env}` runs them as part of the deployment",
            )
        return self.ctx.store.release(route.active_release)

    # by hand -------------------------------------------------------------------------------------
    def status(self, env: str) -> dict[str, Any]:
        spec = self._spec_or_error(env)
        if spec.status is None:
            raise ConflictError(
                f"{env} has no migration status command", "name it in shipyard.yaml: database.migrate.status"
            )
        release = self._serving(env)
        result = self._run(env, release, spec.status, spec.timeout)
        return {"release": release.id, "code": result.code, "output": result.output}

    def plan(self, env: str, release_id: str | None = None) -> dict[str, Any]:
        """The SQL a release's pending migrations would run on ``env``, printed by ``migrate.plan``."""
        spec = self._spec_or_error(env)
        if spec.plan is None:
            raise ConflictError(
                f"{env} has no migration plan command",
                "name it in shipyard.yaml: database.migrate.plan (e.g. `alembic upgrade head --sql`)",
            )
        release = self._newest(env) if release_id is None else self.ctx.store.release(release_id)
        result = self._run(env, release, spec.plan, spec.timeout)
        if not result.ok:
            why = "timed out" if result.code is None else f"exited with {result.code}"
            raise DeployError(
                f"migration plan `{spec.plan}` of {release.id} {why}; its last output:\n{result.output}",
                f"fix the command, or run it by hand in the release's folder {release.path}",
            )
        return {"release": release.id, "output": result.output}

    def _newest(self, env: str) -> Release:
        releases = self.ctx.store.releases()
        if not releases:
            raise ConflictError(
                "no release is built yet, so there is no migration to plan",
                f"build one with `shipyard deploy {env}`, or name one: --release RELEASE",
            )
        return releases[0]

    def run(self, env: str, direction: str, by: str) -> dict[str, Any]:
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
                return run_step(self.ctx, dep_id, name, fn)

            output = self.migrate(step, env, release, command, spec.timeout, direction)
        return {"deployment": dep_id, "release": release.id, "output": output}

    # inside a deployment ---------------------------------------------------------------------
    def migrate(
        self, step: StepFn, env: str, release: Release, command: str, timeout: float, direction: str = "up"
    ) -> str:
        """Backup, then the command; on failure restore the backup. ``step`` records each part."""
        backup: BackupRecord | None = step("backup", lambda: self._backup(env, direction))
        restore_hint = (
            f"the database is restored from backup {backup.id} and the old version kept serving; "
            if backup
            else "the old version kept serving; "
        )

        def run() -> tuple[str, str]:
            result = self._run(env, release, command, timeout)
            if result.ok:
                said = "; ".join(line for line in result.output.splitlines() if line.strip()) or "no output"
                said = said if len(said) <= 300 else "..." + said[-297:]
                return result.output, f"`{command}` ({release.id}) in {result.seconds:.2f}s: {said}"
            why = "timed out" if result.code is None else f"exited with {result.code}"
            raise DeployError(
                f"migration `{command}` of {release.id} {why}; its last output:\n{result.output}",
                restore_hint + f"fix the migration, then deploy again; full output in {env}'s migrate.log",
            )

        try:
            output: str = step("migrate", run)
        except Exception:
            if backup is not None:
                self.backups.restore_locked(backup, env, step)
            raise
        return output

    def _backup(self, env: str, direction: str) -> tuple[BackupRecord | None, str]:
        if not database_exists(self.ctx, env):
            return None, f"{env} has no database yet: nothing to back up"
        record = self.backups.create(env, "pre-migrate", f"before migrate {direction}")
        return record, f"backup {record.id} ({record.size} bytes) in {record.duration_s:.2f}s"
