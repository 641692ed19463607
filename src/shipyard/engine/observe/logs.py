"""The log service: ingests every instance's output and HAProxy's access log into the
central log store, keeps retention, and answers searches and exports.

Built by the composition root and started with the engine. A reader and a writer loop
(``drivers/loops.py``), both at a lower CPU priority than the API's (``LOG_NICENESS``):

- every ``POLL_S`` (at once while there is more) it reads the new complete lines of each instance's
  output through the runtime (``Runtime.outputs`` / ``read_output``: the process runtime's log
  files, ``drivers/runtime/logfiles.py``) and drains the access-log receiver's deque, parses each line
  (``core/logline.py``), and stores them with the files' new offsets in one transaction
  per batch, so a restart of the control plane neither loses nor repeats a line;
- every ``RETENTION_EVERY_S`` it moves lines past their environment's ``hot`` age to cold
  archives and deletes archives past ``cold`` (``core/logquery.retention_plan``).

When the store is full (the disk, or ``logs.max_size``) the oldest lines are archived
(or, if even the archive cannot be written, dropped) until new lines fit; lines not yet
stored stay in the instances' files and are read on the next pass, and the control
plane goes on working.
"""

from __future__ import annotations

import logging
import queue
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.core import logquery
from shipyard.core.logline import (
    Source,
    access_level,
    access_message,
    access_request,
    parse_line,
)
from shipyard.core.loops import KEPT_ERRORS
from shipyard.core.proxy import frontend_name
from shipyard.drivers.loops import Life, Loop, Task, stop_all
from shipyard.drivers.observe.logarchive import archive_files, write_archive
from shipyard.drivers.proxy.interface import AccessLog
from shipyard.drivers.runtime.interface import OutputStream
from shipyard.engine.context import Context
from shipyard.engine.observe import logsearch
from shipyard.errors import NotFoundError
from shipyard.manifest.logs import retention_for
from shipyard.state.logs import Archive, LogStore, Row, StoreFull

log = logging.getLogger("shipyard.logs")
POLL_S = 0.2
RETENTION_EVERY_S = 60.0
BATCH_LINES = 20_000  # lines per transaction at most
LOG_NICENESS = 5  # the log threads' nice value above the API's: CFS weight 335 against 1024
ARCHIVE_CHUNK = 50_000  # lines per cold archive at most
MARKER = re.compile(rb"^--- shipyard: starting instance (\d+) ")

NO_FILTER = logsearch.LogQuery()


@dataclass
class Batch:
    """Parsed lines to store, with the file positions after them."""

    rows: list[Row] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    access: int = 0  # how many of the rows came from the access log
    more: bool = False  # a file or the access log may have more right now


class LogService:
    def __init__(self, ctx: Context, store: LogStore, access_log: AccessLog | None = None) -> None:
        self.ctx = ctx
        self.store = store
        self.access_log = access_log
        self.archive_root = ctx.paths.home / "logs-archive"
        self.stats = {"ingested": 0, "archived": 0, "dropped_old": 0, "dropped_access": 0, "full": 0}
        self._releases: dict[int, str] = {}
        self._queue: queue.Queue[tuple[int, Batch]] = queue.Queue(maxsize=2)
        self._generation = 0
        self._resync = False
        self._positions: dict[str, Source] = {}
        self._turn = 0
        self._last_retention = 0.0
        self._max_size = ctx.manifest.logs.max_size  # the last one seen, applied when it changes
        self.reader, self.writer = self._loops()

    # the loops -------------------------------------------------------------------------------
    # A reader loop reads and parses; a writer loop stores (sqlite3 releases the GIL while it
    # writes, so the two overlap on two cores). Each batch carries the file positions after
    # its lines and is committed with them; if a batch cannot be stored, the batches queued
    # after it are dropped and the reader starts again from the committed positions. Both run
    # at a lower CPU priority (``LOG_NICENESS``): under load, parsing and indexing access lines
    # (FTS5) took the cores from the API's requests (a rollback's among them). Meanwhile the
    # lines wait in the instances' files and the receiver's sink (``SINK_LINES``).
    def _loops(self) -> tuple[Loop, Loop]:
        def life(where: str, final: Callable[[], object] | None = None) -> Life:
            return Life(join_timeout=10, nice=LOG_NICENESS, final=final, where=where)

        reader = Loop("log-read", self._read_pass, POLL_S, initial_delay=0.0, error_delay=1.0,
                      life=life("reading logs: "))  # fmt: skip
        writer = Loop("log-write", self._write_pass, 0.0, initial_delay=0.0, error_delay=1.0,
                      life=life("storing logs: ", self._drain))  # fmt: skip
        return reader, writer

    def start(self) -> None:
        self.reconcile_archives()
        self._positions = self.store.sources()
        self.reader.start()
        self.writer.start()

    def stop(self) -> None:
        stop_all((self.reader, self.writer))
        self.store.close()

    def loops(self) -> list[Task]:
        return [self.reader, self.writer]

    @property
    def errors(self) -> list[str]:
        """The last errors of both loops, oldest first."""
        errors = sorted([*self.reader.errors, *self.writer.errors], key=lambda e: e.at)[-KEPT_ERRORS:]
        return [e.line(time.ctime(e.at)) for e in errors]

    def _read_pass(self) -> float:
        """Read and parse the next lines and queue them; 0 when there may be more at once."""
        generation = self._generation
        if self._resync:
            self._resync = False
            self._positions = self.store.sources()
        batch = self.collect(self._positions)
        if batch is None:
            return POLL_S
        for moved in batch.sources:
            self._positions[moved.path] = moved
        while not self.reader.stopping.is_set():
            try:
                self._queue.put((generation, batch), timeout=0.5)
                break
            except queue.Full:
                continue
        return 0.0 if batch.more else POLL_S

    def _write_pass(self) -> float:
        """Store the next queued batch, and keep retention; 1 s after the store was full."""
        try:
            return self._store_next()
        except Exception:
            self._generation += 1
            self._resync = True
            raise

    def _store_next(self) -> float:
        pause = 0.0
        try:
            generation, batch = self._queue.get(timeout=0.5)
        except queue.Empty:
            batch = None
        if batch is not None and generation == self._generation and not self.store_batch(batch):
            self._generation += 1  # what is queued was read after the lines not stored
            self._resync = True
            pause = 1.0  # the store is full: try again in a second, not in a loop
        now = time.time()
        if now - self._last_retention >= self._retention_every():
            self._last_retention = now
            self.enforce_retention(now)
        return pause

    def _drain(self) -> None:
        """At stop: store what the reader queued."""
        while not self._queue.empty():
            try:
                self._write_pass()
            except Exception as exc:
                self.writer.failed(exc, "storing logs: ")

    def _retention_every(self) -> float:
        """Every minute, or more often when an environment keeps lines hot for a short time."""
        hot = min([retention_for(self.ctx.manifest, e).hot for e in self.ctx.manifest.environments] or [60.0])
        return max(1.0, min(RETENTION_EVERY_S, hot / 4))

    # ingest ----------------------------------------------------------------------------------
    def ingest_once(self, now: float | None = None) -> bool:
        """One pass, read and stored in this thread (tests); True when there may be more."""
        batch = self.collect(self.store.sources(), now)
        if batch is None:
            return False
        return self.store_batch(batch) and batch.more

    def collect(self, known: dict[str, Source], now: float | None = None) -> Batch | None:
        """The next lines of the files (after ``known``) and of the access log, parsed; None if none."""
        now = time.time() if now is None else now
        if (wanted := self.ctx.manifest.logs.max_size) != self._max_size:
            self._max_size = self.store.max_bytes = wanted  # logs.max_size changed in shipyard.yaml
        batch = Batch()
        live = self._live_releases()
        files = self.ctx.runtime.outputs()
        self._turn = (self._turn + 1) % max(1, len(files))  # each file goes first in turn
        for file in files[self._turn :] + files[: self._turn]:
            if len(batch.rows) >= BATCH_LINES:
                batch.more = True
                break
            got = self.ctx.runtime.read_output(file, known.get(file.key))
            if got is None:
                continue
            lines, position = got
            batch.sources.append(self._file_rows(file, lines, position, live, now, batch.rows))
            batch.more = batch.more or bool(lines)
        access = self._access_rows(live, BATCH_LINES)
        batch.rows += access
        batch.access = len(access)
        batch.more = batch.more or len(access) >= BATCH_LINES
        return batch if batch.rows or batch.sources else None

    def add_lines(self, env: str, release: str, instance: str, stream: str, lines: list[bytes]) -> None:
        """Store lines that come from no followed file (a pipeline stage's output) now."""
        now = time.time()
        parsed = (parse_line(raw, now) for raw in lines)
        rows = [
            Row(p.at, env, release, instance, stream, p.level, p.message, p.fields, p.flags) for p in parsed
        ]
        if rows:
            self.store_batch(Batch(rows=rows))

    def _file_rows(
        self,
        file: OutputStream,
        lines: list[bytes],
        pos: Source,
        live: dict[tuple[str, str], str],
        now: float,
        rows: list[Row],
    ) -> Source:
        instance_id = pos.instance_id
        release = self._release_of(instance_id) if instance_id else live.get((file.env, file.instance), "")
        for raw in lines:
            if marker := MARKER.match(raw):
                instance_id = int(marker.group(1))
                release = self._release_of(instance_id)
                if file.stream == "stderr":
                    continue  # the same marker opens stdout, where it is kept
            line = parse_line(raw, now)
            rows.append(
                Row(
                    line.at,
                    file.env,
                    release,
                    file.instance,
                    file.stream,
                    line.level,
                    line.message,
                    line.fields,
                    line.flags,
                )
            )
        return Source(pos.path, pos.inode, pos.offset, instance_id, pos.skipping)

    def _access_rows(self, live: dict[tuple[str, str], str], limit: int) -> list[Row]:
        if self.access_log is None:
            return []
        sink = self.access_log.sink
        envs = {frontend_name(e): e for e in self.ctx.manifest.environments}
        rows: list[Row] = []
        while sink and len(rows) < limit:
            hit, text = sink.popleft()
            env = envs.get(hit.frontend, hit.frontend.removeprefix("fe_"))
            server = "" if hit.server.startswith("<") else hit.server
            method, path = access_request(text)
            rows.append(
                Row(
                    hit.at,
                    env,
                    live.get((env, server), ""),
                    server,
                    "access",
                    access_level(hit.status),
                    access_message(method, path, hit.status, hit.active_ms, server),
                )
            )
        return rows

    def store_batch(self, batch: Batch) -> bool:
        """Store a batch with its file positions; when full, shed the oldest lines and retry.
        False if it could not be stored: its file lines wait in their files, its access
        lines are lost (counted)."""
        for _attempt in range(5):
            try:
                self.store.add(batch.rows, batch.sources)
                self.stats["ingested"] += len(batch.rows)
                return True
            except StoreFull:
                self.stats["full"] += 1
                if not self.relieve():
                    break
        self.stats["dropped_access"] += batch.access
        self.writer.record(
            "the log store is full and nothing is left to archive: lines wait in the instances' files",
            "StoreFull",
            failure=True,
        )
        return False

    def _live_releases(self) -> dict[tuple[str, str], str]:
        return {(i.env, i.name): i.release_id for i in self.ctx.store.instances(process=None)}

    def _release_of(self, instance_id: int) -> str:
        if instance_id not in self._releases:
            try:
                self._releases[instance_id] = self.ctx.store.instance(instance_id).release_id
            except NotFoundError:
                self._releases[instance_id] = ""
        return self._releases[instance_id]

    # retention -------------------------------------------------------------------------------
    def relieve(self) -> bool:
        """Make room: archive the oldest lines (drop them if no archive can be written)."""
        count = logquery.pressure_plan(self.store.count())
        if not count:
            return False
        rows = self.store.oldest(count)
        by_env: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            by_env[row["env"]].append(row)
        for env, chunk in by_env.items():
            self._archive(env, chunk)
        return True

    def enforce_retention(self, now: float) -> dict[str, int]:
        manifest = self.ctx.manifest
        ages = {}
        for env in manifest.environments:
            kept = retention_for(manifest, env)
            ages[env] = (kept.hot, kept.cold)
        default = (manifest.logs.hot, max(manifest.logs.hot, manifest.logs.cold))
        archives = [logquery.ArchiveInfo(a.path, a.env, a.last_at) for a in self.store.archives()]
        plan = logquery.retention_plan(ages, default, self.store.envs(), archives, now)
        moved = 0
        for env, before in plan.archive_before.items():
            while rows := self.store.older_than(env, before, ARCHIVE_CHUNK):
                self._archive(env, rows)
                moved += len(rows)
        for path in plan.delete:
            Path(path).unlink(missing_ok=True)
            self.store.forget_archive(path)
        return {"archived": moved, "deleted": len(plan.delete)}

    def _archive(self, env: str, rows: list[dict[str, Any]]) -> None:
        ids = [int(r["id"]) for r in rows]
        try:
            path, size = write_archive(self.archive_root / env, rows)
        except OSError as exc:
            self.store.archived(None, ids)
            self.stats["dropped_old"] += len(ids)
            self.writer.record(f"dropped {len(ids)} lines: {exc}", type(exc).__name__, failure=True)
            return
        first, last = min(r["at"] for r in rows), max(r["at"] for r in rows)
        self.store.archived(Archive(str(path), env, first, last, len(rows), size), ids)
        self.stats["archived"] += len(ids)

    def reconcile_archives(self) -> None:
        """After a crash: an archive file with no row was written but its lines not deleted
        (they are archived again later), so it goes; a row whose file is gone is forgotten."""
        recorded = {a.path for a in self.store.archives()}
        for file in archive_files(self.archive_root):
            if str(file) not in recorded:
                file.unlink(missing_ok=True)
        for path in recorded:
            if not Path(path).exists():
                self.store.forget_archive(path)

    # search and export (engine/observe/logsearch.py) ------------------------------------------------
    def usage(self) -> dict[str, int | None]:
        """What the log store holds: lines, bytes (and its limit) and archives, for ``GET /api/logs``."""
        return {
            "lines": self.store.count(),
            "bytes": self.store.used_bytes(),
            "max_bytes": self.store.max_bytes,
            "archives": len(self.store.archives()),
        }

    def search(
        self, env: str, query: logsearch.LogQuery = NO_FILTER, limit: int = 200, after: int | None = None
    ) -> dict[str, Any]:
        return logsearch.search(self.store, self.ctx.manifest, env, query, limit, after)

    def export(self, env: str, query: logsearch.LogQuery = NO_FILTER) -> Iterator[dict[str, Any]]:
        return logsearch.export(self.store, self.ctx.manifest, env, query)
