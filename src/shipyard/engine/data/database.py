"""The environment's database as the engine needs it: its variables and a deploy check.

``database_variables`` is the ``DATABASE_URL`` every process of the app gets (through
``appenv.py``, with the secrets of its one audited runtime read); ``server_url`` resolves an
external server's ``url`` (its ``#{NAME}#`` tokens from configuration and the vault) for
that and for Shipyard's own use (``engine/data/postgres/dumps.py``); ``check_deployable`` refuses a
managed PostgreSQL without its programs, and an external url whose tokens name nothing;
``prepare_database`` is the deployment's ``database`` step (a managed PostgreSQL created or
started);
``sqlite_file`` is where the backup service finds a SQLite database.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from shipyard.core import config as c
from shipyard.core.database import database_url, is_external, sqlite_path
from shipyard.core.dburl import resolve_url, url_key, uses_tokens
from shipyard.drivers.data.postgres.programs import find_bin_dir
from shipyard.engine.context import Context
from shipyard.engine.data.postgres.managed import ManagedPostgres, is_managed


def check_deployable(ctx: Context, env: str) -> None:
    """Refuse, before anything starts, a database this Shipyard cannot run."""
    if is_managed(ctx, env):
        find_bin_dir()  # a DatabaseError naming where it looked, and how to install them
    db = ctx.manifest.database_for(env)
    if db.url is not None and uses_tokens(db.url):
        # the secrets' names are enough to know each token resolves: no value is read here
        server_url(ctx, env, dict.fromkeys(ctx.secrets.versions(env), "x"))


def prepare_database(ctx: Context, env: str) -> tuple[None, str]:
    """The deployment step before migrations: the environment's database is up."""
    if not is_managed(ctx, env):
        return None, f"{ctx.manifest.database_for(env).engine}: nothing to start"
    return None, ManagedPostgres(ctx).ensure(env)[1]


def database_variables(ctx: Context, env: str, secrets: Mapping[str, str]) -> dict[str, str]:
    """``DATABASE_URL`` of ``env``; ``secrets`` are the values the caller read for this process."""
    db = ctx.manifest.database_for(env)
    if is_managed(ctx, env):
        url = ManagedPostgres(ctx).url(env)
        return {"DATABASE_URL": url} if url else {}
    if db.url is not None:
        return {"DATABASE_URL": server_url(ctx, env, secrets)}
    return {"DATABASE_URL": database_url(db, ctx.data_dir(env))}  # SQLite's file


def server_url(ctx: Context, env: str, secrets: Mapping[str, str]) -> str:
    """The external server's url with its tokens resolved as configuration tokens are: a
    configuration key of ``env``, else one of ``secrets``. Never log or show what this returns."""
    manifest = ctx.manifest
    template = manifest.database_for(env).url
    if template is None:
        raise ValueError(f"{env} has no external database url")
    if not uses_tokens(template):
        return template
    spec = manifest.environments[env]
    variables = c.variables_for(env, os.environ, list(manifest.environments))
    settings, _ = c.resolve_partly(env, manifest.config, spec.config, variables, secrets, {})
    keys = {*manifest.config, *spec.config, *variables}
    return resolve_url(template, url_key(spec.database, env), env, settings, keys, secrets)


def database_exists(ctx: Context, env: str) -> bool:
    """Whether there is a database Shipyard can back up (a migration's backup needs one)."""
    if is_managed(ctx, env):
        return ManagedPostgres(ctx).cluster(env) is not None
    if is_external(ctx.manifest.database_for(env)):
        return True  # a server Shipyard does not run: pg_dump says if it is not there
    return sqlite_file(ctx, env).exists()


def sqlite_file(ctx: Context, env: str) -> Path:
    return sqlite_path(ctx.manifest.database_for(env), ctx.data_dir(env).resolve())
