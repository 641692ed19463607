"""Restoring a PostgreSQL backup into another environment's managed cluster (optionally masked).

A base backup is a physical copy of the source's whole cluster: its roles, passwords, port
and every database. It cannot become another environment's cluster as it is (the target's
app and its ``DATABASE_URL`` know the target's own role and password), and swapping data
folders would also carry every freed page of the source, which holds the originals a
masked copy must not deliver. So the backup is recovered (to ``--to-time`` if given) into a
scratch cluster beside the source's (``PgBackups.scratch_cluster``), optionally masked
there (``engine/data/masking.py``, the ``prepare`` hook), and only its ``app`` database is copied
logically (``drivers/data/postgres/copy.py``: ``pg_dump | pg_restore``) into a fresh database of the
target's cluster, owned by the target's app role, which then takes the place of the
target's ``app`` in one transaction. The steps are recorded like every restore (``fetch``,
``mask``, ``safety-backup``, ``restore``) under the target's deploy lock, held by the
caller (``BackupService.restore``). The target's cluster is created if it has none yet, as
a deploy's ``database`` step would, but only after the rules were checked and the copy
masked. Until the swap the target's ``app`` is not touched; a failed copy drops the half-made
database; after a killed control plane, ``reconcile`` (run at start by the backup scheduler
through ``BackupService.reconcile``) stops the scratch cluster left running and drops what
the copy left in the target. Called by ``engine/data/postgres/engine.py``.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import replace
from typing import Any

from shipyard.core.backups import BackupRecord, utc
from shipyard.drivers.data.interface import Conn
from shipyard.drivers.data.postgres import copy as pg_copy
from shipyard.engine.data.postgres.backups import PgBackups
from shipyard.engine.data.store import RestoreTo
from shipyard.errors import ShipyardError

RESTORING, BEFORE = "_restoring", "_before_restore"  # suffixes of the target's app database


class PgCopies:
    def __init__(self, backups: PgBackups) -> None:
        self.backups = backups
        self.clusters = backups.clusters

    def restore_locked(self, record: BackupRecord, to: RestoreTo) -> dict[str, Any]:
        """``record`` of another environment, as of ``to.to_time``, becomes ``to.target``'s database."""
        target, step, to_time, prepare = to.target, to.step, to.to_time, to.prepare
        source_db = self._source_database(record)
        work = self.backups.service.scratch(f"copy-{record.id}")
        work.chmod(0o700)  # masking writes the values it replaces here, briefly
        with contextlib.ExitStack() as stack:
            stack.callback(shutil.rmtree, work, True)

            def fetch() -> tuple[Conn, str]:
                scratch = self.backups.scratch_cluster(record, to_time, f"copy-to-{target}")
                conn, took = stack.enter_context(scratch)
                point = f" as of {utc(to_time)}" if to_time is not None else ""
                return replace(conn, database=source_db), (
                    f"{record.env}/{record.id}{point}: checksums and pg_verifybackup ok, "
                    f"recovered into a scratch cluster in {took:.2f}s"
                )

            source = step("fetch", fetch)
            if prepare is not None:
                source = step(prepare.step, lambda: prepare(source, work))
            safety_id = step("safety-backup", lambda: self._safety(record, target))
            step("restore", lambda: self._copy(source, target))
        return {"restored": record.id, "target": target, "safety_backup": safety_id, "to_time": to_time}

    def reconcile(self, env: str) -> list[str]:
        """At control-plane start (no copy runs): stop and remove the scratch clusters a killed
        control plane left beside ``env``'s (``PgBackups.sweep_scratch``: copies out of ``env``,
        its verifies and drills), and drop the half-made or the replaced database of a copy
        into ``env`` that did not finish."""
        done, pg = self.backups.sweep_scratch(env), self.clusters.pg
        cluster = self.clusters.cluster(env)
        if cluster is None or not pg.running(self.clusters.pgdata(env)):
            return done
        admin = self.clusters.conn(env)
        for name in (cluster.app_database + RESTORING, cluster.app_database + BEFORE):
            with contextlib.suppress(ShipyardError):
                if pg_copy.exists(pg, admin, name):
                    pg_copy.drop(pg, admin, name)
                    done.append(f"{env}: dropped {name}, left by a copy that did not finish")
        return done

    def _source_database(self, record: BackupRecord) -> str:
        cluster = self.clusters.cluster(record.env)
        return cluster.app_database if cluster is not None else "app"

    def _safety(self, record: BackupRecord, target: str) -> tuple[str | None, str]:
        """The target's cluster made or started if need be, and a backup of what it holds."""
        existed = self.clusters.cluster(target) is not None
        _, detail = self.clusters.ensure(target)
        if not existed:
            return None, f"{target} had no PostgreSQL cluster: {detail}, nothing to keep"
        service = self.backups.service
        with service.lock(target):
            kept = self.backups.create(target, "pre-restore", f"before restoring {record.env}/{record.id}")
        return kept.id, f"safety backup {kept.id} of {target}"

    def _copy(self, source: Conn, target: str) -> tuple[None, str]:
        pg = self.clusters.pg
        admin = self.clusters.conn(target)  # made by the safety step if there was none
        cluster = self.clusters.cluster(target)
        assert cluster is not None  # conn() raised otherwise
        live = cluster.app_database
        new, old = live + RESTORING, live + BEFORE
        pg_copy.drop(pg, admin, new)  # left by a copy that was killed half-way
        pg_copy.drop(pg, admin, old)  # left by one killed after its swap
        pg_copy.create(pg, admin, new, cluster.app_role)
        try:
            pg_copy.copy_database(pg, source, replace(admin, database=new), cluster.app_role)
            self.backups.service.ctx.hit_failpoint("copy:before-swap")
            if pg_copy.exists(pg, admin, live):
                pg_copy.swap_databases(pg, admin, live, new, old)
            else:  # someone dropped it: the copy simply becomes it
                pg.sql(admin, f'ALTER DATABASE "{new}" RENAME TO "{live}"')
        except ShipyardError:
            with contextlib.suppress(ShipyardError):
                pg_copy.drop(pg, admin, new)
            raise
        pg_copy.drop(pg, admin, old)
        tables = pg.sql(
            admin, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg\\_toast%'", live,
        )  # fmt: skip
        return None, f"{target}'s database {live} is the copy ({tables} tables), owned by {cluster.app_role}"
