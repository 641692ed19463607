"""The app's database as delivery needs it: its variables, a deploy check, its start.

``AppDatabases`` is one service, built once by the composition root (``runtime.py``) over the
one ``ManagedPostgres`` of this control plane (the data engines' registry's ``clusters``), and
passed to the deployment, the instances' and migrations' environment, the migrations and the
health report. ``variables`` is the ``DATABASE_URL`` every process of the app gets (through
``appenv.py``, with the secrets of its one audited runtime read); ``check_deployable`` refuses
a managed PostgreSQL without its programs, and an external url whose tokens name nothing;
``prepare`` is the deployment's ``database`` step (a managed PostgreSQL created or started);
``exists`` says whether there is a database to back up before a migration.

Two functions need no service: ``server_url`` resolves an external server's ``url`` (its
``#{NAME}#`` tokens from configuration and the vault) for the app and for Shipyard's own use
(``engine/data/postgres/dumps.py``); ``sqlite_file`` is where the backup service finds a
SQLite database.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from shipyard.core import config as c
from shipyard.core.database import database_url, is_external, sqlite_path
from shipyard.core.dburl import resolve_url, url_key, uses_tokens
from shipyard.engine.context import Context
from shipyard.engine.data.postgres.managed import ManagedPostgres, is_managed


class AppDatabases:
    def __init__(self, ctx: Context, clusters: ManagedPostgres) -> None:
        self.ctx = ctx
        self.clusters = clusters  # the registry's: what creates, starts and reaches a managed cluster

    def check_deployable(self, env: str) -> None:
        """Refuse, before anything starts, a database this Shipyard cannot run."""
        ctx = self.ctx
        if is_managed(ctx, env):
            self.clusters.pg.find_programs()  # a DatabaseError naming where it looked, how to install
        db = ctx.manifest.database_for(env)
        if db.url is not None and uses_tokens(db.url):
            # the secrets' names are enough to know each token resolves: no value is read here
            server_url(ctx, env, dict.fromkeys(ctx.secrets.versions(env), "x"))

    def prepare(self, env: str) -> tuple[None, str]:
        """The deployment step before migrations: the environment's database is up."""
        if not is_managed(self.ctx, env):
            return None, f"{self.ctx.manifest.database_for(env).engine}: nothing to start"
        return None, self.clusters.ensure(env)[1]

    def variables(self, env: str, secrets: Mapping[str, str]) -> dict[str, str]:
        """``DATABASE_URL`` of ``env``; ``secrets`` are the values the caller read for this process."""
        ctx = self.ctx
        db = ctx.manifest.database_for(env)
        if is_managed(ctx, env):
            url = self.clusters.url(env)
            return {"DATABASE_URL": url} if url else {}
        if db.url is not None:
            return {"DATABASE_URL": server_url(ctx, env, secrets)}
        return {"DATABASE_URL": database_url(db, ctx.data_dir(env))}  # SQLite's file

    def exists(self, env: str) -> bool:
        """Whether there is a database Shipyard can back up (a migration's backup needs one)."""
        ctx = self.ctx
        if is_managed(ctx, env):
            return self.clusters.cluster(env) is not None
        if is_external(ctx.manifest.database_for(env)):
            return True  # a server Shipyard does not run: pg_dump says if it is not there
        return sqlite_file(ctx, env).exists()


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


def sqlite_file(ctx: Context, env: str) -> Path:
    return sqlite_path(ctx.manifest.database_for(env), ctx.data_dir(env).resolve())
