"""PostgreSQL backups through the shared backup service: base backups, restores, verification.

A backup is ``pg_basebackup -D - -Ft -X fetch`` (a tar holding the data folder, the WAL it
needs and its ``backup_manifest``) streamed through zstd + AES-GCM into one storage object,
and a catalog entry like every engine's. A continuous backup (``engine/data/postgres/continuous.py``)
adds the WAL streamed after it under ``<env>/<id>/wal/``; its recoverable window ends at
the time in ``wal/head.json``. A restore fetches the tar (checksums checked), unpacks it in
the cluster's own folder, runs ``pg_verifybackup``, adds the WAL and recovery settings
(``recovery_target_time`` for a point in time) and starts PostgreSQL on it: into a scratch
cluster on another port for ``verify`` (then ``pg_amcheck``), or in place of the live data
folder for ``restore`` (``engine/data/postgres/restores.py``: the old folder is put back if the restored
one does not come up, kept aside if it was broken). Called by ``engine/data/postgres/engine.py``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from shipyard.core.backups import BackupRecord, Verification, object_name
from shipyard.core.postgres import missing_segments, recovery_settings, wal_key
from shipyard.core.verify_queries import QueryCheck
from shipyard.drivers.data.backup_pipeline import (
    StoredFile,
    fetch_bytes,
    fetch_stream,
    store_bytes,
    store_stream,
)
from shipyard.drivers.data.db_query import postgres_rows
from shipyard.drivers.data.interface import Conn
from shipyard.drivers.data.postgres.programs import killed_after
from shipyard.drivers.files import write_atomic, write_json
from shipyard.drivers.ports import free_port
from shipyard.engine.data.postgres.managed import ManagedPostgres
from shipyard.engine.data.store import BackupStore
from shipyard.engine.data.verify_queries import with_queries
from shipyard.errors import BackupError, DatabaseError, NotFoundError

BASE = "base.tar.zst.enc"
MANIFEST = "manifest.json"
HEAD = "head.json"
CLUSTER = "cluster.json.enc"
SCRATCH = ("verify-", "drill-", "copy-to-")  # scratch_cluster's names
TARGET_UNREACHED = "recovery ended before configured recovery target was reached"
TARGET_KEYS = ("recovery_target_time", "recovery_target_inclusive", "recovery_target_action")
RECOVERY_KEYS = ("restore_command", "recovery_target_time", "recovery_target_inclusive",
                 "recovery_target_action", "recovery_target_timeline")  # fmt: skip


def wal_prefix(env: str, backup_id: str) -> str:
    return object_name(env, backup_id, "wal/")


class PgBackups:
    def __init__(self, service: BackupStore, clusters: ManagedPostgres) -> None:
        self.service = service
        self.clusters = clusters

    # create ---------------------------------------------------------------------------------
    def create(self, env: str, kind: str, reason: str, **fields: Any) -> BackupRecord:
        """A base backup of ``env``'s running cluster, stored and catalogued (caller holds the lock)."""
        service = self.service
        with service.new_backup(env, "postgres", kind, reason) as new:
            stored = self._stream_base(env, new.storage, new.key, new.name(BASE), new.level)
            cluster = self.clusters.cluster(env)
            if cluster is not None:  # its port and passwords, for a restore onto a lost machine
                store_bytes(new.storage, new.key, json.dumps(cluster.__dict__).encode(), new.name(CLUSTER))
            consistent = time.time()  # once the backup's own WAL is replayed
            return service.commit(
                new, stored, "base", recoverable_from=consistent, recoverable_to=consistent, **fields
            )

    def _stream_base(self, env: str, storage: Any, key: Any, name: str, level: int) -> StoredFile:
        pg = self.clusters.pg
        argv = pg.basebackup_argv("-")
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.clusters.conn(env).env(), cwd="/"
        )
        assert proc.stdout is not None and proc.stderr is not None
        with contextlib.suppress(OSError, AttributeError):  # 1 MiB pipe: fewer hand-overs
            fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
        timeout = self.service.ctx.manifest.database_for(env).backups.timeout
        with killed_after(proc, timeout) as late:
            try:
                stored = store_stream(storage, key, proc.stdout, name, level)
            finally:
                proc.stdout.close()
                err = proc.stderr.read().decode(errors="replace")
                code = proc.wait()
        if late.is_set():
            storage.delete(name)
            raise DatabaseError(
                f"pg_basebackup of {env} took longer than {timeout:g}s and was stopped",
                "raise database.backups.timeout for a larger database; earlier backups are untouched",
            )
        if code != 0:
            storage.delete(name)
            raise DatabaseError(
                f"pg_basebackup of {env} failed (exit {code}): {' | '.join(err.strip().splitlines()[-3:])}",
                f"is {env}'s PostgreSQL running? (`shipyard status`); earlier backups are untouched",
            )
        return stored

    # the window -----------------------------------------------------------------------------
    def window(self, record: BackupRecord) -> tuple[float, float]:
        start = record.recoverable_from or record.finished_at
        if record.kind != "continuous":
            return start, record.recoverable_to or start
        try:
            head = json.loads(fetch_bytes(self.service.storage(record.env), self.service.key(),
                                          object_name(record.env, record.id, "wal/" + HEAD)))  # fmt: skip
        except NotFoundError:
            return start, start
        return start, max(start, float(head["at"]))

    # fetch: a data folder ready to start ----------------------------------------------------
    def fetch(self, record: BackupRecord, work: Path, to_time: float | None, port: int | None) -> Path:
        """Unpack ``record`` into ``work``/data with its WAL and recovery settings; checked."""
        service, pg = self.service, self.clusters.pg
        key = service.checked_key(record)
        storage = service.storage(record.env)
        data, wal = work / "data", work / "wal"
        data.mkdir(parents=True, mode=0o700)
        wal.mkdir()
        entry = next(o for o in record.objects if o.role == "base")
        fields = {k: v for k, v in asdict(entry).items() if k != "role"}
        tar = subprocess.Popen(
            ["tar", "-x", "-f", "-", "-C", str(data), "--no-same-owner"],
            stdin=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/",
        )  # fmt: skip
        assert tar.stdin is not None and tar.stderr is not None
        try:
            fetch_stream(storage, key, StoredFile(**fields), tar.stdin.write)
        finally:
            tar.stdin.close()
            err = tar.stderr.read().decode(errors="replace")
            code = tar.wait()
        if code != 0:
            raise BackupError(f"the base backup of {record.id} does not unpack: {err.strip()}",
                              "restore another backup (`shipyard backup list`)")  # fmt: skip
        pg.verifybackup(data, data / "backup_manifest")
        if record.kind == "continuous":
            self._fetch_wal(record, wal, to_time)
        (data / "recovery.signal").write_text("")
        with open(data / "postgresql.auto.conf", "a") as fh:
            fh.write("\n".join(recovery_settings(str(wal), to_time, port)) + "\n")
        pg.give_to_server(work)
        return data

    def _fetch_wal(self, record: BackupRecord, wal: Path, to_time: float | None) -> None:
        service = self.service
        storage, key = service.storage(record.env), service.key()
        prefix = wal_prefix(record.env, record.id)
        names = [o.name[len(prefix) :] for o in storage.list(prefix)]
        segments = sorted((n for n in names if wal_key(n) is not None), key=lambda n: wal_key(n) or (0, 0))
        gaps = missing_segments(segments)
        if gaps:
            raise BackupError(
                f"WAL segment {gaps[0]} of continuous backup {record.id} is missing "
                f"({len(gaps)} missing in all): recovery past it is impossible",
                "restore a point in time before the gap, or another backup",
            )
        whole = {n for n in segments if not n.endswith(".partial")}
        for name in segments:
            if name.endswith(".partial") and name.removesuffix(".partial") in whole:
                continue  # the finished segment replaced it
            (wal / name.removesuffix(".partial")).write_bytes(fetch_bytes(storage, key, prefix + name))
        for name in names:
            if name.endswith(".history"):
                (wal / name).write_bytes(fetch_bytes(storage, key, prefix + name))

    # run a restored folder ------------------------------------------------------------------
    def recover(self, data: Path, conn: Conn, log: Path, timeout: float = 600) -> float:
        """Start PostgreSQL on a restored folder and wait for recovery to end; seconds taken.

        A target time after the last commit the WAL holds makes PostgreSQL stop with
        "recovery ended before configured recovery target was reached" (it only checks the
        target at commits). The point is inside the window (``pick`` saw WAL shipped past
        it), so every commit the WAL holds is at or before it: the state at the target is
        the end of the WAL, and recovery runs again without a target."""
        started = time.monotonic()
        offset = log.stat().st_size if log.exists() else 0
        try:
            self._recover_once(data, conn, log, timeout)
        except DatabaseError:
            if TARGET_UNREACHED not in _read_from(log, offset) or not _drop_target(data):
                raise
            self.clusters.pg.give_to_server(data / "postgresql.auto.conf")
            self._recover_once(data, conn, log, timeout)
        pg = self.clusters.pg
        for name in RECOVERY_KEYS:
            pg.sql(conn, f"ALTER SYSTEM RESET {name}")
        pg.sql(conn, "SELECT pg_reload_conf()")
        return time.monotonic() - started

    def _recover_once(self, data: Path, conn: Conn, log: Path, timeout: float) -> None:
        pg = self.clusters.pg
        try:
            pg.start(data, log, timeout=timeout)
        except DatabaseError as exc:
            raise DatabaseError(f"{exc.message}; recovery: {_tail(log)}", exc.hint) from None
        deadline = time.monotonic() + timeout
        while True:
            try:
                if pg.sql(conn, "SELECT pg_is_in_recovery()") == "f":
                    return
            except DatabaseError:
                if not pg.running(data):
                    raise DatabaseError(
                        f"PostgreSQL stopped during recovery: {_tail(log)}",
                        "a WAL segment is missing or the time is outside the window: "
                        "pick another time or backup (`shipyard backup list`)",
                    ) from None
            if time.monotonic() > deadline:
                raise DatabaseError(f"recovery took longer than {timeout:g}s", f"see {log}")
            time.sleep(0.1)

    # a scratch cluster ----------------------------------------------------------------------
    @contextlib.contextmanager
    def scratch_cluster(
        self, record: BackupRecord, to_time: float | None, name: str
    ) -> Iterator[tuple[Conn, float]]:
        """``record`` (at ``to_time``) restored and recovered into a scratch cluster on a free
        port, next to the environment's own; yields its superuser connection and the seconds
        recovery took. The cluster is stopped and its folder removed on the way out."""
        env = record.env
        work = self.clusters.folder(env) / f"{name}-{record.id}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        work.chmod(0o711)
        port = free_port()
        try:
            data = self.fetch(record, work, to_time, port)
            conn = replace(self.clusters.conn(env), port=port)
            yield conn, self.recover(data, conn, work / "server.log")
        finally:
            self.clusters.pg.stop(work / "data", "immediate")
            shutil.rmtree(work, ignore_errors=True)

    def sweep_scratch(self, env: str) -> list[str]:
        """At control-plane start (none of them runs then): stop and remove the scratch clusters
        a killed verify, drill or copy left beside ``env``'s cluster."""
        folder, done, pg = self.clusters.folder(env), [], self.clusters.pg
        for work in (
            sorted(p for p in folder.iterdir() if p.name.startswith(SCRATCH)) if folder.is_dir() else []
        ):
            try:
                pg.stop(work / "data", "immediate")
            except DatabaseError as exc:
                done.append(f"{env}: the scratch cluster {work} does not stop: {exc.message}")
                continue
            shutil.rmtree(work, ignore_errors=True)
            done.append(f"{env}: removed {work.name}, the scratch cluster of a job that did not finish")
        return done

    # verify ---------------------------------------------------------------------------------
    def verify(self, record: BackupRecord) -> BackupRecord:
        """Restore into a scratch cluster on another port, pg_amcheck it, record the time."""
        checks: tuple[QueryCheck, ...] = ()
        started = time.monotonic()
        try:
            with self.scratch_cluster(record, None, "verify") as (conn, _):
                pg = self.clusters.pg
                pg.amcheck(conn)
                tables = pg.sql(conn, "SELECT count(*) FROM pg_class WHERE relkind = 'r'", "app")
                ok, detail = True, f"checksums, pg_verifybackup and pg_amcheck ok ({tables} tables)"
                took = time.monotonic() - started
                as_app = self.clusters.app_conn(record.env)  # the app's own rights, on the scratch port
                ok, detail, checks = with_queries(
                    ok, detail, self.service.ctx.manifest.database_for(record.env).backups,
                    lambda sql, timeout: postgres_rows(pg, replace(as_app, port=conn.port), sql, timeout),
                )  # fmt: skip
        except BackupError as exc:
            ok, detail, took = False, exc.message, time.monotonic() - started
        verification = Verification(time.time(), ok, round(took, 3), detail, checks)
        return self.service.update(record.env, record.id, verification=verification)

    def recreate_record(self, record: BackupRecord, target: str) -> None:
        """The cluster's record (port, passwords) lost with its folder: take the backup's."""
        if self.clusters.cluster(target) is not None:
            return
        storage, key = self.service.storage(record.env), self.service.key()
        try:
            raw = fetch_bytes(storage, key, object_name(record.env, record.id, CLUSTER))
        except NotFoundError:
            raise BackupError(
                f"{target} has no PostgreSQL cluster record and backup {record.id} does not carry one",
                f"deploy {target} once to create a cluster, then restore",
            ) from None
        folder = self.clusters.folder(target)
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o711)
        write_json(folder / "cluster.json", json.loads(raw), mode=0o600)


def _read_from(log: Path, offset: int) -> str:
    """What the server wrote to ``log`` after ``offset``."""
    try:
        with open(log, "rb") as fh:
            fh.seek(offset)
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


def _drop_target(data: Path) -> bool:
    """Remove the recovery target from a restored folder's settings; False if it had none."""
    conf = data / "postgresql.auto.conf"
    lines = conf.read_text().splitlines()
    kept = [ln for ln in lines if not ln.startswith(TARGET_KEYS)]
    if len(kept) == len(lines):
        return False
    write_atomic(conf, "\n".join(kept) + "\n", mode=0o600)
    return True


def _tail(log: Path) -> str:
    try:
        lines = [
            ln
            for ln in log.read_text(errors="replace").splitlines()
            if "FATAL" in ln or "LOG:  recovery" in ln
        ]
    except OSError:
        return "(no log)"
    return " | ".join(lines[-3:]) or "(see the log)"
