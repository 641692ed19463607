"""Backup and restore figures: SQLite here, PostgreSQL in ``bench/backup_pg.py`` (``--pg-scale``).

Builds a SQLite database of ``--size-mb`` (500 by default) in WAL mode, as an app would have
it, then goes through Shipyard's own backup service (the code ``shipyard backup`` runs):

- ``sqlite_backup_s``: ``backup create`` (online copy through SQLite's backup API, zstd,
  AES-256-GCM, checksums, manifest, catalog), on a database that is open by a writer;
- ``sqlite_verify_s``: ``backup verify`` (restore into a scratch folder, both checksums,
  ``PRAGMA integrity_check``), as the catalog records it;
- ``sqlite_restore_s``: ``backup restore`` after the database file was deleted (a lost disk):
  fetch, decrypt, decompress, verify, integrity check, and write the live database, until the
  restored database answers a query;
- ``sqlite_rpo_s``: with continuous WAL shipping (1 s ticks), the writes lost at a sudden loss
  of the database (the worst of three trials, see ``measure_rpo``);
- ``backup_bytes`` (stored, compressed and encrypted) and ``source_bytes``.

No control plane or HAProxy is needed: the service runs on a private home in a temporary
folder, which is removed at the end. The last stdout line is one JSON object.
"""

from __future__ import annotations

import sys

# bench/ holds secrets.py (the vault benchmark), which would shadow the standard library's
# `secrets` for everything imported here: search this folder last
sys.path.append(sys.path.pop(0))

import argparse
import json
import os
import random
import shutil
import sqlite3
import string
import tempfile
import time
from pathlib import Path

from backup_context import backup_context, backup_service
from backup_pg import run_pg
from shipyard.engine.data.backups import BackupService
from shipyard.engine.data.sqlite.continuous import WalShipper
from shipyard.manifest.loader import parse_manifest


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_database(path: Path, size_mb: int) -> None:
    """Rows like an app's: ids, timestamps, short words and some random text."""
    rng = random.Random(5)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(5000)]
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, author TEXT, created_at REAL, body TEXT, blob BLOB)"
    )
    conn.execute("CREATE INDEX notes_author ON notes (author)")
    target = size_mb * 1024 * 1024
    batch = 2000
    now = time.time()
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    while conn.execute("PRAGMA page_count").fetchone()[0] * page_size < target:
        rows = [
            (
                rng.choice(words),
                now - rng.random() * 1e7,
                " ".join(rng.choices(words, k=rng.randint(20, 120))),
                os.urandom(rng.randint(0, 256)),
            )
            for _ in range(batch)
        ]
        with conn:
            conn.executemany("INSERT INTO notes (author, created_at, body, blob) VALUES (?, ?, ?, ?)", rows)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def make_service(root: Path) -> tuple[BackupService, Path]:
    manifest = parse_manifest(
        {
            "app": "bench",
            "processes": {"web": {"command": "true"}},
            "database": {"file": "app.db"},
            "environments": {"prod": {"port": 18999}},
        }
    )
    ctx = backup_context(root / "home", root, manifest)
    data = ctx.paths.env_data("prod").resolve()
    data.mkdir(parents=True)
    return backup_service(ctx), data / "app.db"


def measure_rpo(service: BackupService, live: Path, runs: int = 3) -> float:
    """Data lost at a sudden loss with continuous shipping: the worst of ``runs`` trials.

    A writer commits a timestamped row every 20 ms; at a random moment the database is
    "lost": the writer stops and the shipper stops at once, without a last shipment (as a
    crash would). The database is then restored from the base and its segments, and the loss
    is the time between the last commit and the newest row the restore brought back.
    """
    worst = 0.0
    with sqlite3.connect(live) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS markers (at REAL)")
    for _ in range(runs):
        shipper = WalShipper(service, "prod", tick=1.0)
        shipper.start()
        while shipper.base_id is None:
            time.sleep(0.05)
        writer = sqlite3.connect(live, timeout=10)
        loss_at = time.monotonic() + 3 + random.random() * 3
        last = 0.0
        while time.monotonic() < loss_at:
            last = time.time()
            with writer:
                writer.execute("INSERT INTO markers (at) VALUES (?)", (last,))
            time.sleep(0.02)
        writer.close()
        shipper.stop(final=False)
        service.restore("prod", "bench", shipper.base_id)
        with sqlite3.connect(live) as conn:
            newest = conn.execute("SELECT max(at) FROM markers").fetchone()[0] or 0.0
        worst = max(worst, last - newest)
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=500, help="size of the SQLite database")
    parser.add_argument("--dir", default=None, help="work folder (default: a temporary one)")
    parser.add_argument(
        "--pg-scale", type=int, default=70, help="pgbench scale of the PostgreSQL part (70: ~1 GB; 0: skip)"
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="shipyard-bench-backup-", dir=args.dir))
    os.environ.pop("SHIPYARD_BACKUP_KEY", None)
    try:
        service, live = make_service(root)
        log(f"building a {args.size_mb} MB SQLite database in {live}")
        started = time.monotonic()
        build_database(live, args.size_mb)
        log(f"built {live.stat().st_size / 2**20:.0f} MiB in {time.monotonic() - started:.1f}s")
        with sqlite3.connect(live) as check:
            rows = check.execute("SELECT count(*) FROM notes").fetchone()[0]

        holder = sqlite3.connect(live)  # the app: a connection open during the backup
        holder.execute("SELECT count(*) FROM notes").fetchone()
        started = time.monotonic()
        record = service.create("prod", "manual", "bench")
        backup_s = time.monotonic() - started
        holder.close()
        log(f"backup {record.id}: {record.size / 2**20:.0f} MiB stored in {backup_s:.2f}s")

        checked = service.verify("prod", record.id)
        assert checked.verification is not None and checked.verification.ok, checked.verification
        log(f"verify: {checked.verification.detail} in {checked.verification.restore_s:.2f}s")

        for suffix in ("", "-wal", "-shm"):
            live.with_name(live.name + suffix).unlink(missing_ok=True)
        started = time.monotonic()
        done = service.restore("prod", "bench", record.id)
        with sqlite3.connect(live) as conn:
            restored_rows = conn.execute("SELECT count(*) FROM notes").fetchone()[0]
        restore_s = time.monotonic() - started
        assert restored_rows == rows and done["safety_backup"] is None, (restored_rows, rows, done)
        log(f"restore after losing the file: {restored_rows} rows serving again in {restore_s:.2f}s")
        rpo_s = measure_rpo(service, live)
        log(f"continuous shipping: {rpo_s:.3f}s of writes lost at a sudden loss")
        result = {
            "sqlite_backup_s": round(backup_s, 2),
            "sqlite_verify_s": round(checked.verification.restore_s, 2),
            "sqlite_restore_s": round(restore_s, 2),
            "sqlite_rpo_s": round(rpo_s, 3),
            "backup_bytes": record.size,
            "source_bytes": record.source_bytes,
            "rows": rows,
            "compression_ratio": round(record.source_bytes / record.size, 2),
            "cpus": os.cpu_count(),
        }
        if args.pg_scale:
            result.update(run_pg(root, args.pg_scale))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
