"""Backups of an external PostgreSQL server (pg_dump through Shipyard's pipeline), measured.

Starts a PostgreSQL 15 cluster with ``initdb`` (through Shipyard's ``ManagedPostgres``, the
server as an unprivileged user) and fills its ``app`` database with ``pgbench -i -s SCALE``
(``--scale``, 10 by default: about 160 MB). A second backup service sees that server as an
*external* one, ``url: postgresql://app:#{DB_PASSWORD}#@127.0.0.1:PORT/app``, its password
from a secret source (so every use resolves the token), and goes through the code that
``shipyard backup`` runs:

- ``ext_backup_s``: ``backup create`` (``pg_dump -Fc -Z 0`` streamed through zstd, AES-256-GCM
  and both SHA-256 into storage, manifest and catalog);
- ``ext_dump_baseline_s``: ``pg_dump -Fc -f FILE`` of the same database (zlib), the baseline;
- ``ext_verify_s``: ``backup verify`` (fetch, a scratch cluster made with ``initdb``,
  ``pg_restore``, table count, ``pg_amcheck``), as the catalog records it;
- ``ext_restore_s``: ``backup restore`` (fetch and list, a safety dump, ``pg_restore --clean
  --if-exists --no-owner --single-transaction`` into the server) until every row answers;
- ``ext_restore_baseline_s``: the same ``pg_restore`` of the baseline dump, by hand;
- ``ext_backup_bytes``, ``ext_dump_bytes``, ``ext_source_bytes``.

The last stdout line is one JSON object. Everything lives in a temporary folder, removed at
the end.
"""

from __future__ import annotations

import sys

sys.path.append(sys.path.pop(0))  # bench/secrets.py must not shadow the standard library's

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from backup_context import backup_context, backup_service
from shipyard.drivers.data.postgres.programs import Conn
from shipyard.engine.context import Context
from shipyard.engine.data.postgres.managed import ManagedPostgres
from shipyard.manifest.loader import parse_manifest


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class OneSecret:
    """The secret source of the external service: the app role's password."""

    def __init__(self, password: str) -> None:
        self.password = password

    def values(self, env: str, purpose: str = "", actor: str = "runtime") -> Mapping[str, str]:
        return {"DB_PASSWORD": self.password}

    def versions(self, env: str) -> Mapping[str, int]:
        return {"DB_PASSWORD": 1}


def context(home: Path, database: dict[str, Any], secrets: Any = None) -> Context:
    manifest = parse_manifest(
        {
            "app": "bench",
            "processes": {"web": {"command": "true"}},
            "database": database,
            "environments": {"prod": {"port": 18997}},
        }
    )
    extra = {"secrets": secrets} if secrets is not None else {}
    return backup_context(home, home.parent, manifest, **extra)


def timed(argv: list[str], conn: Conn) -> float:
    started = time.monotonic()
    subprocess.run(argv, env=conn.env(), check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def run(root: Path, scale: int) -> dict[str, Any]:
    root.chmod(0o711)  # the server's OS user passes through
    clusters = backup_service(
        context(root / "server-home", {"engine": "postgres", "managed": True})
    ).engines.clusters
    cluster, _ = clusters.ensure("prod")
    try:
        return measure(root, clusters, cluster.port, cluster.app_password, scale)
    finally:
        clusters.stop("prod")


def measure(root: Path, clusters: ManagedPostgres, port: int, password: str, scale: int) -> dict[str, Any]:
    pg, app = clusters.pg, clusters.app_conn("prod")
    log(f"pgbench -i -s {scale} into a cluster on 127.0.0.1:{port}")
    build_s = timed([pg.program("pgbench"), "-i", "-q", "-s", str(scale)], app)
    source = int(pg.sql(app, "SELECT pg_database_size('app')"))
    accounts = int(pg.sql(app, "SELECT count(*) FROM pgbench_accounts"))
    log(f"built {source / 2**20:.0f} MiB ({accounts} accounts) in {build_s:.1f}s")

    url = f"postgresql://app:#{{DB_PASSWORD}}#@127.0.0.1:{port}/app"
    external = {"engine": "postgres", "url": url, "backups": {"verify_schedule": None}}
    service = backup_service(context(root / "home", external, OneSecret(password)))

    started = time.monotonic()
    record = service.create("prod", "manual", "bench")
    backup_s = time.monotonic() - started
    log(f"backup {record.id}: {record.size / 2**20:.0f} MiB stored in {backup_s:.2f}s")

    dump = root / "app.dump"
    dump_s = timed([pg.program("pg_dump"), "-Fc", "-f", str(dump)], app)
    log(f"pg_dump -Fc: {dump.stat().st_size / 2**20:.0f} MiB in {dump_s:.2f}s")

    checked = service.verify("prod", record.id)
    assert checked.verification is not None and checked.verification.ok, checked.verification
    log(f"verify: {checked.verification.detail} in {checked.verification.restore_s:.2f}s")

    pg.sql(app, "DELETE FROM pgbench_accounts WHERE aid % 2 = 0")  # rows changed since the backup
    started = time.monotonic()
    done = service.restore("prod", "bench", record.id)
    restored = int(pg.sql(app, "SELECT count(*) FROM pgbench_accounts"))
    restore_s = time.monotonic() - started
    assert restored == accounts and done["safety_backup"], (restored, accounts, done)
    log(f"restore (safety dump, then pg_restore --clean in one transaction): {restore_s:.2f}s")

    argv = [pg.program("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction"]
    baseline_s = timed([*argv, "-d", "app", str(dump)], app)
    log(f"pg_restore of the baseline dump by hand: {baseline_s:.2f}s")
    return {
        "ext_backup_s": round(backup_s, 2),
        "ext_dump_baseline_s": round(dump_s, 2),
        "ext_verify_s": round(checked.verification.restore_s, 2),
        "ext_restore_s": round(restore_s, 2),
        "ext_restore_baseline_s": round(baseline_s, 2),
        "ext_backup_bytes": record.size,
        "ext_dump_bytes": dump.stat().st_size,
        "ext_source_bytes": source,
        "scale": scale,
        "cpus": os.cpu_count(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=10, help="pgbench scale (10: about 160 MB)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="shipyard-bench-ext-"))
    try:
        result = run(root, args.scale)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
