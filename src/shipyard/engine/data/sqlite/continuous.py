"""Continuous shipping of SQLite's WAL, so that at most about a second of writes can be lost.

As Litestream does: the shipper keeps a read transaction open on the app's database, which
stops SQLite from restarting (overwriting) the WAL, and every ``tick`` copies the frames
committed since the last tick into an encrypted segment (``core/segments.py``) in the backup
storage, then ``wal/head.json`` with the moment up to which every commit is shipped (the
window's end, within about a tick of the last commit). It checkpoints the WAL itself once
``checkpoint_frames`` have been shipped: holding the write lock for a few milliseconds, it
ships the last frames, lets SQLite copy the WAL into the database, and takes its read
transaction again before it lets writers go; the next writer then starts a new WAL generation,
which the shipper follows. If the WAL ever changes in a way it did not cause (continuity
lost), it starts again from a new base snapshot: a gap is never papered over.

Each start (and each ``rebase_after``) takes a base snapshot at an exact WAL position, as a
catalog entry of kind ``continuous``; a restore takes the base and replays its segments up to
a time (``engine/data/sqlite/pitr.py``). Started and stopped per environment by the backup scheduler.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from pathlib import Path

from shipyard.core.segments import SegmentHeader, head_name, pack_header, segment_name
from shipyard.drivers.data.backup_pipeline import store_bytes
from shipyard.drivers.data.sqlite.wal import Checksum, WalHeader, read_committed, read_header
from shipyard.engine.data.database import sqlite_file
from shipyard.engine.data.shipper import ShipperLoop
from shipyard.engine.data.sqlite.backups import SqliteBackups
from shipyard.engine.data.store import BackupStore
from shipyard.errors import BackupError, ShipyardError

CATALOG_EVERY_S = 10.0


class ContinuityLost(BackupError):
    pass


class WalShipper(ShipperLoop):
    failures = (ShipyardError, sqlite3.Error, OSError)

    def __init__(
        self,
        backups: BackupStore,
        env: str,
        tick: float = 1.0,
        checkpoint_frames: int = 1000,
        rebase_after: float = 86400.0,
    ) -> None:
        super().__init__(f"wal-shipper-{env}", tick)
        self.backups = backups
        self.env = env
        self.checkpoint_frames = checkpoint_frames
        self.rebase_after = rebase_after
        self.last_shipped_at: float | None = None
        self._conns: dict[str, sqlite3.Connection] = {}
        self._base_at = 0.0
        self._catalog_at = 0.0
        self._reset()

    def _reset(self) -> None:
        self.generation, self.frame, self.previous_end = 1, 0, 0
        self.salts: tuple[int, int] | None = None
        self.seed: Checksum = (0, 0)
        self.rolled = False
        self._checkpointed_at = 0  # frame of this generation at the last checkpoint

    # life (the loop is ShipperLoop's) -------------------------------------------------------
    def tick_once(self) -> None:
        if self.base_id is None or time.time() - self._base_at > self.rebase_after:
            self.begin()
        else:
            self.ship_once()
            if self.frame - self._checkpointed_at >= self.checkpoint_frames:
                self.checkpoint()
            self._store_head()
        self._record_window()

    def ship_final(self) -> None:
        self.ship_once()
        self._store_head()
        self._record_window(force=True)

    def release(self) -> None:
        self._close()

    def _close(self) -> None:
        for conn in self._conns.values():
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._conns = {}

    # the database and its WAL ---------------------------------------------------------------
    @property
    def db(self) -> Path:
        return sqlite_file(self.backups.ctx, self.env)

    @property
    def wal(self) -> Path:
        return self.db.with_name(self.db.name + "-wal")

    def _conn(self, role: str, timeout: float) -> sqlite3.Connection:
        if role not in self._conns:
            conn = sqlite3.connect(self.db, isolation_level=None, timeout=timeout, check_same_thread=False)
            conn.execute("PRAGMA wal_autocheckpoint=0")
            self._conns[role] = conn
        return self._conns[role]

    def _hold_read(self) -> None:
        reader = self._conn("read", 5.0)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM sqlite_master").fetchone()

    def begin(self) -> bool:
        """A new base snapshot at an exact WAL position; False while there is no database yet."""
        self._close()
        self._reset()
        self.base_id = None
        if not self.db.exists():
            return False
        mode = self._conn("read", 5.0).execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise BackupError(f"{self.db} could not be put in WAL mode ({mode})", "stop what holds it")
        writer = self._conn("write", 2.0)
        writer.execute("BEGIN IMMEDIATE")  # no commit can land between the position and the snapshot
        try:
            header = read_header(self.wal)
            if header is not None:
                found = read_committed(self.wal, header, 0, header.checksum)
                self.salts = header.salts
                self.frame = found.count if found else 0
                self.seed = found.end if found else header.checksum
            self._hold_read()
        finally:
            writer.execute("ROLLBACK")
        reader = self._conns["read"]

        def copy_into(target: Path) -> None:
            dest = sqlite3.connect(target)
            try:
                reader.backup(dest)  # the read transaction's snapshot: exactly at self.frame
                dest.execute("PRAGMA journal_mode=DELETE")
            finally:
                dest.close()

        with self.backups.lock(self.env):
            record = SqliteBackups(self.backups).create(
                self.env,
                "continuous",
                "base of continuous WAL shipping",
                copy_into,
                wal_generation=self.generation,
                wal_frame=self.frame,
            )
        self.base_id, self._base_at = record.id, time.time()
        self.last_shipped_at = record.started_at
        return True

    def ship_once(self) -> int:
        """Ship the frames committed since the last call; returns how many."""
        if self.base_id is None:
            return 0
        now = time.time()  # before the read: every commit up to now is in what it finds
        header = read_header(self.wal)
        if header is None:
            return 0
        if header.salts != self.salts:
            self._next_generation(header)
        found = read_committed(self.wal, header, self.frame, self.seed)
        if found is None:
            self.last_shipped_at = now  # nothing new: everything committed is shipped
            return 0
        head = SegmentHeader(
            self.generation, found.first, found.count, self.previous_end if found.first == 1 else 0, self.seed
        )
        name = segment_name(self.env, self.base_id, self.generation, found.first, found.count, now)
        level = self.backups.ctx.manifest.database_for(self.env).backups.compression_level
        store_bytes(
            self.backups.storage(self.env),
            self.backups.key(),
            pack_header(head) + header.raw + found.data,
            name,
            level,
        )
        self.frame += found.count
        self.seed = found.end
        self.last_shipped_at = now
        return found.count

    def _next_generation(self, header: WalHeader) -> None:
        if not self.rolled and self.salts is not None:
            raise ContinuityLost(
                f"the WAL of {self.db} was restarted by someone else: frames may be missing",
                "continuous shipping starts again from a new base snapshot",
            )
        self.generation += 1
        self.previous_end, self.frame = self.frame, 0
        self.salts, self.seed, self.rolled = header.salts, header.checksum, False
        self._checkpointed_at = 0

    def checkpoint(self) -> None:
        """Ship the last frames under the write lock, checkpoint, take the read lock again."""
        writer = self._conn("write", 2.0)
        try:
            writer.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return  # a long write transaction: try at the next tick
        try:
            self.ship_once()
            self._conns["read"].execute("COMMIT")
            self._conn("checkpoint", 2.0).execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self._hold_read()
            self.rolled = True  # the next writer may restart the WAL: every frame is shipped
            self._checkpointed_at = self.frame
        finally:
            writer.execute("ROLLBACK")

    def _store_head(self) -> None:
        """``wal/head.json``: everything committed up to ``last_shipped_at`` is shipped, so the
        window's end follows the clock while nothing is written (``engine/data/sqlite/pitr.py``)."""
        if self.base_id is None or self.last_shipped_at is None:
            return
        head = {"at": self.last_shipped_at, "base": self.base_id, "generation": self.generation,
                "frame": self.frame}  # fmt: skip
        store_bytes(self.backups.storage(self.env), self.backups.key(), json.dumps(head).encode(),
                    head_name(self.env, self.base_id))  # fmt: skip

    def _record_window(self, force: bool = False) -> None:
        now = time.time()
        if self.base_id is None or self.last_shipped_at is None:
            return
        if force or now - self._catalog_at >= CATALOG_EVERY_S:
            self.backups.update(self.env, self.base_id, recoverable_to=self.last_shipped_at)
            self._catalog_at = now
