"""The PostgreSQL part of ``bench/backup.py``: a managed cluster of about 1 GB, measured.

Creates a managed-style cluster (``initdb``, the server as an unprivileged user) through
Shipyard's own ``ManagedPostgres``, fills its ``app`` database with ``pgbench -i -s SCALE``
(scale 70 is about 1 GB) and checkpoints it (a database at rest, so the base backup's own
checkpoint does not pay for writing the freshly loaded gigabyte), then:

- ``pg_backup_s``: ``backup create`` (``pg_basebackup`` streamed through zstd + AES-GCM);
- ``pg_dump_s``: ``pg_dump -Fc`` of the same database, same run (the baseline);
- ``pg_restore_s``: ``backup restore`` after the data folder was deleted (a lost disk), until
  PostgreSQL has recovered and answers: the RTO;
- ``pg_restore_baseline_s``: ``pg_restore`` of that dump into an empty database;
- ``pg_rpo_s``: with continuous WAL (``pg_receivewal``, 0.5 s ticks), the writes lost at a
  sudden loss: a marker row every 20 ms, the shipper and the cluster killed, the latest state
  restored, and the age of the newest marker that came back;
- ``pg_drill_rto_s``, ``pg_drill_rpo_s``: a disaster-recovery drill (``engine/data/drill.py``) with
  continuous WAL: the whole database restored into a scratch cluster, as ``shipyard drill``.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from backup_context import backup_context, backup_service
from shipyard.drivers.data.postgres.programs import Conn
from shipyard.engine.data.backups import BackupService
from shipyard.engine.data.drill import Drills
from shipyard.engine.data.postgres.continuous import PgWalShipper
from shipyard.engine.data.postgres.managed import ManagedPostgres
from shipyard.manifest.loader import parse_manifest
from shipyard.manifest.models import Manifest


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def bench_manifest(**database: Any) -> Manifest:
    return parse_manifest(
        {
            "app": "bench",
            "processes": {"web": {"command": "true"}},
            "database": {"engine": "postgres", "managed": True, **database},
            "environments": {"prod": {"port": 18998}},
        }
    )


def make_service(root: Path) -> BackupService:
    manifest = bench_manifest()
    return backup_service(backup_context(root / "pg-home", root, manifest))


def timed(argv: list[str], conn: Conn) -> float:
    started = time.monotonic()
    subprocess.run(argv, env=conn.env(), check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def measure_rpo(service: BackupService, clusters: ManagedPostgres) -> float:
    pg, app = clusters.pg, clusters.app_conn("prod")
    pg.sql(app, "CREATE TABLE IF NOT EXISTS markers (at double precision)")
    shipper = PgWalShipper(service.engines.managed, "prod", tick=0.5)
    shipper.start()
    while shipper.base_id is None:
        if shipper.errors:
            raise RuntimeError(shipper.errors[-1])
        time.sleep(0.1)
    writer = subprocess.Popen(
        [pg.program("psql"), "-X", "-q"],
        stdin=subprocess.PIPE,
        env=app.env(),
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert writer.stdin is not None
    loss_at = time.monotonic() + 3 + random.random() * 3
    while time.monotonic() < loss_at:
        writer.stdin.write("INSERT INTO markers VALUES (extract(epoch FROM clock_timestamp()));\n")
        writer.stdin.flush()
        time.sleep(0.02)
    writer.stdin.close()
    writer.wait()
    last = float(pg.sql(app, "SELECT max(at) FROM markers"))
    shipper.stop(final=False)  # the loss: no last shipment
    pg.stop(clusters.pgdata("prod"), "immediate")
    shutil.rmtree(clusters.pgdata("prod"))
    base_id = shipper.base_id
    service.restore("prod", "bench", base_id)
    newest = float(pg.sql(app, "SELECT coalesce(max(at), 0) FROM markers"))
    return max(0.0, last - newest)


def measure_drill(service: BackupService) -> tuple[float, float]:
    """``shipyard drill`` with continuous WAL: (RTO, RPO) of restoring the whole database into
    a scratch cluster beside the live one, the marker row recovered."""
    service.ctx.manifest = bench_manifest(backups={"continuous": True}, drill={"rto": "15m", "rpo": "5m"})
    shipper = PgWalShipper(service.engines.managed, "prod", tick=0.5)
    shipper.start()
    try:
        while shipper.base_id is None:
            if shipper.errors:
                raise RuntimeError(shipper.errors[-1])
            time.sleep(0.1)
        time.sleep(2)  # the base is older than the drill: only the shipped WAL holds its marker
        record = Drills(service, lambda env: shipper.last_shipped_at).run("prod", "bench")
    finally:
        shipper.stop()
    assert record.marker_recovered and record.rto_s is not None and record.rpo_s is not None, record
    return record.rto_s, record.rpo_s


def run_pg(root: Path, scale: int) -> dict[str, Any]:
    root.chmod(0o711)  # the server's OS user passes through
    service = make_service(root)
    clusters = service.engines.clusters
    clusters.ensure("prod")
    pg, admin = clusters.pg, clusters.conn("prod", "app")
    log(f"pgbench -i -s {scale} into a managed cluster in {clusters.folder('prod')}")
    build_s = timed([pg.program("pgbench"), "-i", "-q", "-s", str(scale), "app"], admin)
    source = int(pg.sql(admin, "SELECT pg_database_size('app')"))
    accounts = int(pg.sql(admin, "SELECT count(*) FROM pgbench_accounts"))
    log(f"built {source / 2**20:.0f} MiB ({accounts} accounts) in {build_s:.1f}s")
    pg.sql(admin, "CHECKPOINT")  # at rest: the backup's own checkpoint does not pay for the load

    started = time.monotonic()
    record = service.create("prod", "manual", "bench")
    backup_s = time.monotonic() - started
    log(f"backup {record.id}: {record.size / 2**20:.0f} MiB stored in {backup_s:.2f}s")

    dump = root / "app.dump"
    dump_s = timed([pg.program("pg_dump"), "-Fc", "-f", str(dump), "app"], admin)
    log(f"pg_dump -Fc: {dump.stat().st_size / 2**20:.0f} MiB in {dump_s:.2f}s")

    pg.stop(clusters.pgdata("prod"), "immediate")
    shutil.rmtree(clusters.pgdata("prod"))  # the disk is lost
    started = time.monotonic()
    service.restore("prod", "bench", record.id)
    restored = int(pg.sql(admin, "SELECT count(*) FROM pgbench_accounts"))
    restore_s = time.monotonic() - started
    assert restored == accounts, (restored, accounts)
    log(f"restore after losing the data folder: serving again in {restore_s:.2f}s")

    pg.sql(admin, "CREATE DATABASE baseline")
    baseline_s = timed([pg.program("pg_restore"), "-d", "baseline", str(dump)], replace_db(admin, "baseline"))
    log(f"pg_restore into an empty database: {baseline_s:.2f}s")
    pg.sql(admin, "DROP DATABASE baseline")

    rpo_s = measure_rpo(service, clusters)
    log(f"continuous WAL: {rpo_s:.3f}s of writes lost at a sudden loss")
    drill_rto_s, drill_rpo_s = measure_drill(service)
    log(f"drill with continuous WAL: RTO {drill_rto_s:.2f}s, RPO {drill_rpo_s:.3f}s")
    clusters.stop("prod")
    return {
        "pg_backup_s": round(backup_s, 2),
        "pg_dump_s": round(dump_s, 2),
        "pg_restore_s": round(restore_s, 2),
        "pg_restore_baseline_s": round(baseline_s, 2),
        "pg_rpo_s": round(rpo_s, 3),
        "pg_drill_rto_s": round(drill_rto_s, 2),
        "pg_drill_rpo_s": round(drill_rpo_s, 3),
        "pg_backup_bytes": record.size,
        "pg_source_bytes": source,
        "pg_dump_bytes": dump.stat().st_size,
    }


def replace_db(conn: Conn, database: str) -> Conn:
    return Conn(conn.port, conn.user, conn.password, database)
