"""The environment's database as the engine needs it: its variables and a deploy check.

``database_variables`` is the ``DATABASE_URL`` every process of the app gets (through
``appenv.py``); ``check_deployable`` refuses a managed PostgreSQL without its programs;
``prepare_database`` is the deployment's ``database`` step (a managed PostgreSQL created or
started);
``sqlite_file`` is where the backup service finds a SQLite database.
"""

from __future__ import annotations

from pathlib import Path

from shipyard.core.database import database_url, sqlite_path, unsupported_reason
from shipyard.drivers.postgres import find_bin_dir
from shipyard.engine.context import Context
from shipyard.engine.postgres import ManagedPostgres, is_managed


def check_deployable(ctx: Context, env: str) -> None:
    """Refuse, before anything starts, a database this Shipyard cannot run."""
    if is_managed(ctx, env):
        find_bin_dir()  # a DatabaseError naming where it looked, and how to install them


def prepare_database(ctx: Context, env: str) -> tuple[None, str]:
    """The deployment step before migrations: the environment's database is up."""
    if not is_managed(ctx, env):
        return None, f"{ctx.manifest.database_for(env).engine}: nothing to start"
    return None, ManagedPostgres(ctx).ensure(env)[1]


def database_variables(ctx: Context, env: str) -> dict[str, str]:
    db = ctx.manifest.database_for(env)
    if is_managed(ctx, env):
        url = ManagedPostgres(ctx).url(env)
        return {"DATABASE_URL": url} if url else {}
    return {"DATABASE_URL": database_url(db, ctx.data_dir(env))}  # SQLite's file, or the external url


def database_exists(ctx: Context, env: str) -> bool:
    """Whether there is a database Shipyard can back up (a migration's backup needs one)."""
    if is_managed(ctx, env):
        return ManagedPostgres(ctx).cluster(env) is not None
    if unsupported_reason(ctx.manifest.database_for(env)) is not None:
        return False  # an external server: its own tools back it up
    return sqlite_file(ctx, env).exists()


def sqlite_file(ctx: Context, env: str) -> Path:
    return sqlite_path(ctx.manifest.database_for(env), ctx.data_dir(env).resolve())
