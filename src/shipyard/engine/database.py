"""The environment's database as the engine needs it: its variables and a deploy check.

``database_variables`` is the ``DATABASE_URL`` every process of the app gets (through
``appenv.py``); ``check_deployable`` refuses what cannot run yet; ``sqlite_file`` is where
the backup service finds the database.
"""

from __future__ import annotations

from pathlib import Path

from shipyard.core.database import database_url, sqlite_path, unsupported_reason
from shipyard.engine.context import Context
from shipyard.errors import ManifestError


def check_deployable(ctx: Context, env: str) -> None:
    """Refuse, before anything starts, a database this Shipyard cannot run yet."""
    reason = unsupported_reason(ctx.manifest.database_for(env))
    if reason is not None:
        key = "environments.{env}.database" if ctx.manifest.environments[env].database else "database"
        raise ManifestError(
            f"{ctx.paths.manifest}: {key.format(env=env)}.engine: {reason}",
            "use engine: sqlite for now; PostgreSQL support lands in a later release",
        )


def database_variables(ctx: Context, env: str) -> dict[str, str]:
    data = ctx.data_dir(env)
    db = ctx.manifest.database_for(env)
    if unsupported_reason(db) is not None:
        return {}
    return {"DATABASE_URL": database_url(db, data)}


def sqlite_file(ctx: Context, env: str) -> Path:
    return sqlite_path(ctx.manifest.database_for(env), ctx.data_dir(env).resolve())
