"""PostgreSQL copies into another environment, plain and masked, measured.

Two managed-style clusters (``prod`` and ``staging``, through Shipyard's own
``ManagedPostgres``) in a temporary folder. ``prod``'s ``app`` database gets
``pgbench -i -s SCALE`` (scale 10 is about 150 MB) and a ``people`` table of ``--people``
rows (name, email, phone, all masked). Then, each through the backup service as the API runs
it (``backup restore prod --target staging [--mask]``, steps recorded under staging's lock):

- ``pg_copy_s``: a plain copy of the newest backup into staging (recovery into a scratch
  cluster, ``pg_dump | pg_restore`` into a fresh database, the swap), safety backup of staging
  included, and its steps: ``pg_copy_fetch_s`` (decrypt, unpack, ``pg_verifybackup``,
  recovery), ``pg_copy_safety_backup_s``, ``pg_copy_restore_s`` (the logical copy and swap);
- ``pg_masked_copy_s``: the same with ``--mask`` (schema check, values exported, masked in
  Python, UPDATEs in the scratch cluster), and ``pg_mask_step_s`` its ``mask`` step alone;
- ``pg_dump_restore_s`` (the baseline): ``pg_dump -Fc`` of prod's database into a file, then
  ``pg_restore`` into an empty database, as an operator would copy it by hand (no recovery,
  no masking, no safety backup).

The last stdout line is one JSON object. ``.venv/bin/python bench/pg_copy.py [--scale 10]
[--people 100000]``.
"""

from __future__ import annotations

import sys

# bench/ holds secrets.py (the vault benchmark), which would shadow the standard library's
# `secrets` for everything imported here: search this folder last
sys.path.append(sys.path.pop(0))

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from backup_context import backup_context, backup_service
from shipyard.drivers.data.postgres.programs import Conn
from shipyard.engine.data.backups import BackupService
from shipyard.engine.data.masking import MaskedCopies
from shipyard.engine.data.postgres.managed import ManagedPostgres
from shipyard.manifest.loader import load_manifest

MANIFEST = {
    "app": "bench",
    "processes": {"web": {"command": "true"}},
    "database": {
        "engine": "postgres",
        "managed": True,
        "backups": {"verify_schedule": None},
        "masking": {"people": {"name": "fake_name", "email": "fake_email", "phone": "fake_phone"}},
    },
    "environments": {"prod": {"port": 18996}, "staging": {"port": 18997}},
}


STEPS = ("fetch", "safety-backup", "restore")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def make_service(root: Path) -> BackupService:
    (root / "shipyard.yaml").write_text(yaml.safe_dump(MANIFEST))
    return backup_service(backup_context(root / "home", root, load_manifest(root / "shipyard.yaml")))


def timed(argv: list[str], conn: Conn) -> float:
    started = time.monotonic()
    subprocess.run(argv, env=conn.env(), check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def step_seconds(service: BackupService, deployment: int, name: str) -> float:
    steps = service.ctx.store.deployment(deployment).steps
    return next(s.seconds for s in steps if s.name == name and s.seconds is not None)


def run(service: BackupService, clusters: ManagedPostgres, scale: int, people: int) -> dict[str, Any]:
    root = service.ctx.paths.app_dir
    clusters.ensure("prod")
    clusters.ensure("staging")
    pg, admin = clusters.pg, clusters.conn("prod", "app")
    app = clusters.app_conn("prod")
    log(f"pgbench -i -s {scale} and {people} people into prod")
    timed([pg.program("pgbench"), "-i", "-q", "-s", str(scale), "app"], app)
    pg.sql(
        app,
        "CREATE TABLE people (id bigserial PRIMARY KEY, name text, email text UNIQUE, phone text); "
        "INSERT INTO people (name, email, phone) SELECT 'Person ' || i, "
        "'person' || i || '@mail.example.org', '+1 202 555 ' || lpad(i::text, 6, '0') "
        f"FROM generate_series(1, {people}) AS i",
    )
    source = int(pg.sql(admin, "SELECT pg_database_size('app')"))
    pg.sql(admin, "CHECKPOINT")
    record = service.create("prod", "manual", "bench")

    started = time.monotonic()
    plain = service.restore("prod", "bench", record.id, target="staging")
    copy_s = time.monotonic() - started
    parts = {name: step_seconds(service, int(plain["deployment"]), name) for name in STEPS}
    count = pg.sql(clusters.conn("staging", "app"), "SELECT count(*) FROM people")
    assert count == str(people), count
    log(f"plain copy into staging: {copy_s:.2f}s ({', '.join(f'{k} {v:.2f}s' for k, v in parts.items())})")

    started = time.monotonic()
    done = MaskedCopies(service).restore("prod", "bench", "staging", record.id)
    masked_s = time.monotonic() - started
    mask_s = step_seconds(service, int(done["deployment"]), "mask")
    leaked = pg.sql(
        clusters.conn("staging", "app"), "SELECT count(*) FROM people WHERE email LIKE '%mail.example.org'"
    )
    assert leaked == "0", leaked
    log(f"masked copy into staging: {masked_s:.2f}s (mask step {mask_s:.2f}s, {done['rows']} rows)")

    dump = root / "app.dump"
    pg.sql(admin, "CREATE DATABASE baseline")
    baseline_s = timed([pg.program("pg_dump"), "-Fc", "-f", str(dump), "app"], admin)
    baseline_s += timed(
        [pg.program("pg_restore"), "-d", "baseline", str(dump)], replace(admin, database="baseline")
    )
    log(f"pg_dump -Fc + pg_restore by hand: {baseline_s:.2f}s")
    return {
        "pg_copy_s": round(copy_s, 2),
        **{f"pg_copy_{name.replace('-', '_')}_s": round(took, 2) for name, took in parts.items()},
        "pg_masked_copy_s": round(masked_s, 2),
        "pg_mask_step_s": round(mask_s, 2),
        "pg_masked_rows": done["rows"],
        "pg_dump_restore_s": round(baseline_s, 2),
        "pg_source_bytes": source,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=10, help="pgbench scale of prod (10: about 150 MB)")
    parser.add_argument("--people", type=int, default=100_000, help="rows of the masked people table")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="shipyard-bench-pgcopy-"))
    root.chmod(0o711)  # the server's OS user passes through
    service = make_service(root)
    clusters = service.engines.clusters
    try:
        result = run(service, clusters, args.scale, args.people)
    finally:
        for env in ("prod", "staging"):  # a failed run leaves no server behind
            clusters.pg.stop(clusters.pgdata(env), "immediate")
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
