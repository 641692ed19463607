"""Backups of an external PostgreSQL server (``database.url``): logical dumps.

Shipyard has no access to such a server's files or WAL, so a backup is ``pg_dump -Fc``
streamed through the backup pipeline (zstd, AES-GCM, SHA-256) into one object, catalogued
like every backup: engine ``postgres``, its object's role ``dump`` (``is_dump``), and no
point-in-time window: it restores the moment ``pg_dump`` started (its snapshot is taken as
it connects), so ``recoverable_from == recoverable_to``. The url's ``#{NAME}#`` tokens are
resolved at each use with one audited read of the vault (``engine/database.server_url``).

``restore_locked`` fetches the dump (checksums checked) and lists it, takes a safety dump of
the server, then ``pg_restore --clean --if-exists --no-owner --single-transaction``: a
failure leaves the server as it was. ``verify`` loads the dump into a scratch cluster made
with ``initdb`` on a free 127.0.0.1 port (stopped and removed after), counts its tables and
runs ``pg_amcheck`` and the user's verify queries; ``loaded`` is that scratch copy, for drills
too (``engine/data/postgres/dump_drill.py``); ``sweep`` stops a scratch cluster that a killed
control plane left running. Called by ``engine/data/postgres/engine.py`` (external servers).
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from shipyard.core.backups import BackupRecord, Verification
from shipyard.core.dburl import mask_url, split_url, uses_tokens
from shipyard.core.postgres import hba, server_settings
from shipyard.core.verify_queries import QueryCheck
from shipyard.drivers.data.backup_pipeline import StoredFile, fetch_file, store_stream
from shipyard.drivers.data.db_query import postgres_rows
from shipyard.drivers.data.interface import Conn, DumpTools, PostgresPrograms, Server
from shipyard.drivers.ports import free_port
from shipyard.engine.data.database import server_url
from shipyard.engine.data.store import BackupStore, RestoreTo
from shipyard.engine.data.verify_queries import with_queries
from shipyard.errors import BackupError, DatabaseError

DUMP = "dump.pgc.zst.enc"
MANIFEST = "manifest.json"
ROLE = "dump"
VERIFY_DB = "verify"
TABLES = (
    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
)


def is_dump(record: BackupRecord) -> bool:
    """A logical dump of an external server (not a base backup)."""
    return any(o.role == ROLE for o in record.objects)


class PgDumps:
    def __init__(self, service: BackupStore, pg: PostgresPrograms, tools: DumpTools) -> None:
        self.service = service
        self.pg = pg
        self.tools = tools  # pg_dump, pg_restore

    def server(self, env: str, purpose: str) -> Server:
        """How the programs reach ``env``'s server now (the vault read only if the url needs it)."""
        ctx = self.service.ctx
        template = ctx.manifest.database_for(env).url or ""
        values = ctx.secrets.values(env, purpose) if uses_tokens(template) else {}
        full = server_url(ctx, env, values)
        url, password = split_url(full)
        return Server(url, password, mask_url(full))

    # create ---------------------------------------------------------------------------------
    def create(self, env: str, kind: str, reason: str, **fields: Any) -> BackupRecord:
        """A dump of ``env``'s server, stored and catalogued (the caller holds the lock)."""
        service = self.service
        with service.new_backup(env, "postgres", kind, reason) as new:
            server = self.server(env, f"backup {new.base.id} of {env}")
            name = new.name(DUMP)
            stored = self.tools.dump(
                server,
                lambda out: store_stream(new.storage, new.key, out, name, new.level),
                f"backup of {env}",
                service.ctx.manifest.database_for(env).backups.timeout,
            )
            return service.commit(new, stored, ROLE, **fields)

    # fetch ----------------------------------------------------------------------------------
    def fetch(self, record: BackupRecord, work: Path) -> Path:
        """The dump as a local file, both checksums verified."""
        service = self.service
        key = service.checked_key(record)
        entry = next(o for o in record.objects if o.role == ROLE)
        target = work / "dump.pgc"
        fields = {k: v for k, v in asdict(entry).items() if k != "role"}
        fetch_file(service.storage(record.env), key, StoredFile(**fields), target)
        return target

    # a scratch cluster ----------------------------------------------------------------------
    @contextlib.contextmanager
    def scratch_cluster(self, work: Path) -> Iterator[Conn]:
        """An empty local cluster in ``work``/pg on a free port; stopped and removed after."""
        folder = work / "pg"
        folder.mkdir(mode=0o711)
        for passed in (folder, work, work.parent):  # the server's OS user passes through to data/
            passed.chmod(0o711)
        self.pg.check_reachable(folder)
        port, password = free_port(), secrets.token_urlsafe(24)
        pgdata = folder / "data"
        try:
            settings = [*server_settings(port), "fsync = off", "full_page_writes = off"]  # scratch only
            self.pg.create(pgdata, password, settings, hba(), folder / "server.log")
            yield Conn(port, "postgres", password)
        finally:
            self.pg.stop(pgdata, "immediate")
            shutil.rmtree(folder, ignore_errors=True)

    def sweep(self) -> list[str]:
        """At control-plane start: stop the scratch clusters a killed verify left running under
        ``<home>/tmp`` (the scheduler then removes the folder)."""
        done = []
        for pgdata in sorted((self.service.ctx.paths.home.resolve() / "tmp").glob("*/pg/data")):
            if not (pgdata / "postmaster.pid").exists():
                continue
            try:
                self.pg.stop(pgdata, "immediate")
                done.append(f"stopped the scratch cluster of {pgdata.parent.parent.name} left by a crash")
            except DatabaseError as exc:
                done.append(f"the scratch cluster in {pgdata} did not stop: {exc.message}")
        return done

    # verify ---------------------------------------------------------------------------------
    def verify(self, record: BackupRecord) -> BackupRecord:
        """Load the dump into a scratch cluster, check it, record the result and the time."""
        service = self.service
        started = time.monotonic()
        checks: tuple[QueryCheck, ...] = ()
        work = service.scratch(f"verify-{record.id}")
        try:
            with self.loaded(record, work) as conn:
                tables = self.pg.sql(conn, TABLES, VERIFY_DB)
                self.pg.amcheck(conn)
                took = time.monotonic() - started
                ok, detail, checks = with_queries(
                    True, f"checksums, pg_restore and pg_amcheck ok ({tables} tables)",
                    service.ctx.manifest.database_for(record.env).backups,
                    lambda sql, timeout: postgres_rows(self.pg, conn, sql, timeout),
                )  # fmt: skip
        except BackupError as exc:
            ok, detail, took = False, exc.message, time.monotonic() - started
        finally:
            shutil.rmtree(work, ignore_errors=True)
        verification = Verification(time.time(), ok, round(took, 3), detail, checks)
        return service.update(record.env, record.id, verification=verification)

    @contextlib.contextmanager
    def loaded(self, record: BackupRecord, work: Path) -> Iterator[Conn]:
        """``record`` fetched (checksums) and loaded into database ``verify`` of a scratch
        cluster in ``work``; yields its superuser's connection to that database."""
        archive = self.fetch(record, work)
        with self.scratch_cluster(work) as conn:
            self.pg.sql(conn, f"CREATE DATABASE {VERIFY_DB}")
            self.tools.restore_local(conn, VERIFY_DB, archive, f"pg_restore of {record.id}")
            yield replace(conn, database=VERIFY_DB)

    # restore --------------------------------------------------------------------------------
    def restore_locked(self, record: BackupRecord, to: RestoreTo) -> dict[str, Any]:
        """Put the dump back into ``to.target``'s server; the caller holds the deploy lock. There
        is no ``prepare`` (masking) step: a dump restores only into its own environment."""
        target, step, to_time = to.target, to.step, to.to_time
        if to_time is not None:
            raise BackupError(
                f"backup {record.id} is a dump of an external server: it restores the moment it was "
                "taken, not a point in time",
                "restore it without --to-time, or pick the dump nearest the time (`shipyard backup list`)",
            )
        service = self.service
        work = service.scratch(f"restore-{record.id}")
        try:

            def fetch() -> tuple[Path, str]:
                archive = self.fetch(record, work)
                count = self.tools.entries(archive)
                return archive, f"{record.id}: checksums ok, {count} entries in the dump"

            archive = step("fetch", fetch)

            def safety() -> tuple[str, str]:
                with service.lock(target):
                    kept = self.create(target, "pre-restore", f"before restoring {record.id}")
                return kept.id, f"safety backup {kept.id} of {target}"

            safety_id = step("safety-backup", safety)

            def load() -> tuple[None, str]:
                started = time.monotonic()
                server = self.server(target, f"restore of {record.id} into {target}")
                self.tools.restore(server, archive, f"pg_restore of {record.id}")
                return None, f"{target}'s server holds {record.id} ({time.monotonic() - started:.2f}s)"

            step("restore", load)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return {"restored": record.id, "target": target, "safety_backup": safety_id, "to_time": None}
