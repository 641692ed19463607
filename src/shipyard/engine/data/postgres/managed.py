"""Managed PostgreSQL: one local cluster per environment that declares ``managed: true``.

The first deploy creates it with ``initdb`` in ``<data>/pg/data`` (owned by the server's
unprivileged user), on a free 127.0.0.1 port recorded with generated passwords in
``<data>/pg/cluster.json`` (0600), with a role and a database ``app`` for the app. It is
started with ``pg_ctl`` before instances start (the deployment's ``database`` step), keeps
running across deploys and control-plane restarts (the server outlives us; start-up only
starts what is down), and stops at ``shipyard down``. Creation is all-or-nothing: a
half-made cluster folder is removed and made again. Called by the engine and deployments.
"""

from __future__ import annotations

import secrets
import shutil
import time
from pathlib import Path

from shipyard.core.postgres import Cluster, app_url, hba, server_settings
from shipyard.drivers.data.interface import Conn, PostgresPrograms
from shipyard.drivers.files import read_json, write_json
from shipyard.drivers.ports import free_port
from shipyard.engine.context import Context
from shipyard.errors import DatabaseError


def is_managed(ctx: Context, env: str) -> bool:
    if env not in ctx.manifest.environments:
        return False
    db = ctx.manifest.database_for(env)
    return db.engine == "postgres" and db.managed


class ManagedPostgres:
    def __init__(self, ctx: Context, pg: PostgresPrograms) -> None:
        self.ctx = ctx
        self.pg = pg

    # where ----------------------------------------------------------------------------------
    def folder(self, env: str) -> Path:
        return self.ctx.data_dir(env).resolve() / "pg"

    def pgdata(self, env: str) -> Path:
        return self.folder(env) / "data"

    def log(self, env: str) -> Path:
        return self.folder(env) / "server.log"

    def cluster(self, env: str) -> Cluster | None:
        found = read_json(self.folder(env) / "cluster.json")
        return Cluster(**found) if isinstance(found, dict) else None

    def conn(self, env: str, database: str = "postgres") -> Conn:
        cluster = self._known(env)
        return Conn(cluster.port, "postgres", cluster.superuser_password, database)

    def app_conn(self, env: str) -> Conn:
        cluster = self._known(env)
        return Conn(cluster.port, cluster.app_role, cluster.app_password, cluster.app_database)

    def url(self, env: str) -> str | None:
        cluster = self.cluster(env)
        return app_url(cluster) if cluster else None

    def _known(self, env: str) -> Cluster:
        cluster = self.cluster(env)
        if cluster is None:
            raise DatabaseError(
                f"{env} has no PostgreSQL cluster yet ({self.folder(env)})",
                f"deploy {env} once: the first deployment creates it",
            )
        return cluster

    # life -----------------------------------------------------------------------------------
    def ensure(self, env: str) -> tuple[Cluster, str]:
        """Create the cluster if there is none, start it if it is down."""
        # one creation or start at a time per environment (the engine's shared lock table)
        with self.ctx.locks.backup(f"cluster:{env}"):
            made = ""
            if self.cluster(env) is None:
                self._create(env)
                made = "created, "
            cluster = self._known(env)
            self.pg.check_reachable(self.folder(env))
            if self.pg.running(self.pgdata(env)):
                return cluster, f"PostgreSQL on 127.0.0.1:{cluster.port} {made}running"
            self.pg.start(self.pgdata(env), self.log(env))
            return cluster, f"PostgreSQL on 127.0.0.1:{cluster.port} {made}started"

    def _create(self, env: str) -> None:
        folder = self.folder(env)
        if folder.exists():  # a creation that died half-way: nothing in it is the app's yet
            self.pg.stop(self.pgdata(env), "immediate")  # it may have got as far as starting
            shutil.rmtree(folder)
        folder.mkdir(parents=True, mode=0o711)
        folder.chmod(0o711)  # the server's user passes through to data/
        self.pg.check_reachable(folder)
        cluster = Cluster(free_port(), secrets.token_urlsafe(24), secrets.token_urlsafe(24))
        pgdata = self.pgdata(env)
        try:
            self.pg.create(
                pgdata, cluster.superuser_password, server_settings(cluster.port), hba(), self.log(env)
            )
            admin = Conn(cluster.port, "postgres", cluster.superuser_password)
            self.pg.sql(admin, f"CREATE ROLE {cluster.app_role} LOGIN PASSWORD '{cluster.app_password}'")
            self.pg.sql(admin, f"CREATE DATABASE {cluster.app_database} OWNER {cluster.app_role}")
        except BaseException:
            self.pg.stop(pgdata, "immediate")
            shutil.rmtree(folder, ignore_errors=True)
            raise
        write_json(folder / "cluster.json", cluster.__dict__, mode=0o600)  # last: marks it made

    def round_trip(self, env: str) -> tuple[float | None, str]:
        """Milliseconds of a ``SELECT 1`` as the app (``/health``); None and why when it fails."""
        cluster = self.cluster(env)
        if cluster is None:
            return None, ""  # no database yet
        started = time.monotonic()
        try:
            self.pg.sql(self.app_conn(env), "SELECT 1")
        except DatabaseError:
            return None, f"PostgreSQL on 127.0.0.1:{cluster.port} does not answer (see {self.log(env)})"
        return (time.monotonic() - started) * 1000, ""

    def stop(self, env: str) -> None:
        if (self.pgdata(env) / "PG_VERSION").exists():
            self.pg.stop(self.pgdata(env))

    def start_all(self) -> list[str]:
        """At control-plane start: adopt running clusters, start recorded ones that are down."""
        done = []
        for env in self.ctx.manifest.environments:
            if is_managed(self.ctx, env) and self.cluster(env) is not None:
                try:
                    done.append(f"{env}: " + self.ensure(env)[1])
                except DatabaseError as exc:
                    done.append(f"{env}: PostgreSQL did not start: {exc.message}")
        return done

    def stop_all(self) -> None:
        for env in self.ctx.manifest.environments:
            if is_managed(self.ctx, env):
                self.stop(env)
