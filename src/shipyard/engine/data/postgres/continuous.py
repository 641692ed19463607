"""Continuous WAL of a managed PostgreSQL, so that at most about a second of writes is lost.

``pg_receivewal --synchronous`` streams the cluster's WAL through a replication slot (so no
WAL is recycled before it is received, even across a control-plane restart) into a local
folder; every ``tick`` this shipper stores each finished segment, and the segment being
written (``.partial``) when it changed, encrypted under the continuous backup's
``wal/`` prefix, then ``wal/head.json`` with the time up to which everything is shipped:
the end of the recoverable window. On start, and after any failure (the receiver died, the
cluster was restored), it starts the receiver and then takes a new base backup of kind
``continuous``: a gap is never papered over. Started and stopped by the backup scheduler.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

from shipyard.core.backups import object_name
from shipyard.core.postgres import slot_name, wal_key
from shipyard.drivers.data.backup_pipeline import store_bytes
from shipyard.engine.data.postgres.backups import HEAD, PgBackups, wal_prefix
from shipyard.engine.data.shipper import ShipperLoop
from shipyard.engine.data.sqlite.continuous import CATALOG_EVERY_S
from shipyard.errors import DatabaseError, ShipyardError


class PgWalShipper(ShipperLoop):
    failures = (ShipyardError, OSError)

    def __init__(self, parts: PgBackups, env: str, tick: float = 0.5) -> None:
        super().__init__(f"pg-wal-{env}", tick)
        self.backups = parts.service
        self.parts = parts
        self.env = env
        self.clusters = parts.clusters
        self.last_shipped_at: float | None = None
        self._receiver: subprocess.Popen[bytes] | None = None
        self._shipped: dict[str, tuple[int, int]] = {}  # partial name -> (size, mtime_ns) stored
        self._catalogued_at = 0.0

    @property
    def folder(self) -> Path:
        return self.clusters.folder(self.env) / "wal-stream"

    # life (the loop is ShipperLoop's) -------------------------------------------------------
    def tick_once(self) -> None:
        if self.base_id is None:
            self.begin()
        else:
            self.ship_once()

    def ship_final(self) -> None:
        self.ship_once()

    def release(self) -> None:
        self._end_receiver()

    def _end_receiver(self) -> None:
        if self._receiver is not None:
            self._receiver.terminate()
            try:
                self._receiver.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._receiver.kill()
            self._receiver = None

    # streaming ------------------------------------------------------------------------------
    def begin(self) -> bool:
        """Start the receiver, then a new continuous base; False while there is no cluster."""
        clusters = self.clusters
        if clusters.cluster(self.env) is None or not clusters.pg.running(clusters.pgdata(self.env)):
            return False
        self._end_receiver()
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self._shipped = {}
        pg, conn = clusters.pg, clusters.conn(self.env)
        slot = slot_name(self.env)
        pg.run([pg.program("pg_receivewal"), "--create-slot", "--if-not-exists", "-S", slot, "--no-password"],
               "pg_receivewal --create-slot", env=conn.env())  # fmt: skip
        self._receiver = subprocess.Popen(
            [pg.program("pg_receivewal"), "-D", str(self.folder), "-S", slot, "--synchronous",
             "--no-loop", "--no-password"],
            env=conn.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/",
        )  # fmt: skip
        self._wait_streaming()
        with self.backups.lock(self.env):
            record = self.parts.create(self.env, "continuous", "base of continuous WAL streaming")
        self.base_id = record.id
        self.last_shipped_at = record.finished_at
        self.ship_once()
        return True

    def _wait_streaming(self) -> None:
        deadline = time.monotonic() + 10
        while not any(self.folder.iterdir()):
            self._check_receiver()
            if time.monotonic() > deadline:
                raise DatabaseError("pg_receivewal wrote nothing within 10s", "see the server's log")
            time.sleep(0.05)

    def _check_receiver(self) -> None:
        if self._receiver is None or self._receiver.poll() is not None:
            err = b""
            if self._receiver is not None and self._receiver.stderr is not None:
                err = self._receiver.stderr.read()
            raise DatabaseError(
                f"pg_receivewal of {self.env} stopped: {err.decode(errors='replace').strip()[-300:]}",
                "continuous WAL starts again from a new base backup",
            )

    def ship_once(self) -> int:
        """Store finished and changed segments; returns how many objects were stored."""
        if self.base_id is None:
            return 0
        self._check_receiver()
        at = time.time()  # everything the server had flushed by now is in the folder
        storage, key = self.backups.storage(self.env), self.backups.key()
        prefix = wal_prefix(self.env, self.base_id)
        level = self.backups.ctx.manifest.database_for(self.env).backups.compression_level
        stored, complete = 0, True
        for path in sorted(self.folder.iterdir(), key=lambda p: wal_key(p.name) or (0, 0)):
            name = path.name
            try:
                if name.endswith(".history") or (wal_key(name) is not None and not name.endswith(".partial")):
                    store_bytes(storage, key, path.read_bytes(), prefix + name, level)
                    storage.delete(prefix + name + ".partial")
                    self._shipped.pop(name + ".partial", None)
                    path.unlink()
                    stored += 1
                elif name.endswith(".partial") and wal_key(name) is not None:
                    info = path.stat()
                    mark = (info.st_size, info.st_mtime_ns)
                    if self._shipped.get(name) != mark:
                        store_bytes(storage, key, path.read_bytes(), prefix + name, level)
                        self._shipped[name] = mark
                        stored += 1
            except FileNotFoundError:  # the receiver finished the segment meanwhile: next tick
                complete = False
        if complete:
            head = {"at": at, "base": self.base_id}
            store_bytes(
                storage, key, json.dumps(head).encode(), object_name(self.env, self.base_id, "wal/" + HEAD)
            )
            self.last_shipped_at = at
            if at - self._catalogued_at >= CATALOG_EVERY_S:
                self.backups.update(self.env, self.base_id, recoverable_to=at)
                self._catalogued_at = at
        return stored
