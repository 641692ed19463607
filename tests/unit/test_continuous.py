"""Continuous WAL shipping on real SQLite files: point-in-time restores, gaps, the window.

A writer commits rows while the shipper runs (with a small checkpoint threshold, so the WAL
is checkpointed and restarted several times: several WAL generations); restores then rebuild
the database from the base snapshot and the segments.
"""

from __future__ import annotations

import sqlite3
import struct
import threading
import time
from pathlib import Path

import pytest
from tests.unit.test_backup_service import live_db, make_ctx
from tests.unit.wiring import backup_service

from shipyard.core.segments import SegmentRef, plan_replay
from shipyard.drivers.data.sqlite.wal import checksum
from shipyard.engine.context import Context
from shipyard.engine.data.sqlite.continuous import WalShipper
from shipyard.errors import BackupError


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Context:
    monkeypatch.delenv("SHIPYARD_BACKUP_KEY", raising=False)
    return make_ctx(tmp_path, {"file": "notes.db", "backups": {"continuous": True}})


def rows(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM notes ORDER BY id")]


def write(path: Path, first: int, count: int, marks: dict[int, float], pause: float = 0.0) -> None:
    conn = sqlite3.connect(path, timeout=10)  # default autocheckpoint: the app's own checkpoints run
    for i in range(first, first + count):
        with conn:
            conn.execute("INSERT INTO notes (id, text) VALUES (?, ?)", (i, "x" * 300))
        marks[i] = time.time()
        time.sleep(pause)
    conn.close()


def test_shipping_across_checkpoints_restores_every_commit(ctx: Context) -> None:
    path = live_db(ctx, rows=0)
    service = backup_service(ctx)
    shipper = WalShipper(service, "dev", tick=0.05, checkpoint_frames=40)
    assert shipper.begin()
    marks: dict[int, float] = {}
    # a writer in its own thread while the shipper ticks and checkpoints
    writer = threading.Thread(target=write, args=(path, 1, 300, marks, 0.001))
    writer.start()
    while writer.is_alive():
        shipper.ship_once()
        if shipper.frame - shipper._checkpointed_at >= shipper.checkpoint_frames:
            shipper.checkpoint()
        time.sleep(0.02)
    writer.join()
    # then in turns, so that the WAL is surely checkpointed and restarted several times
    for start in range(301, 601, 30):
        write(path, start, 30, marks)
        shipper.ship_once()
        shipper.checkpoint()
    shipper.ship_once()
    assert shipper.generation > 3, "the WAL should have been restarted several times"
    assert shipper.errors == []
    shipper._close()

    # everything committed comes back, on top of the base, across generations
    done = service.restore("dev", "tester")
    assert done["restored"] == shipper.base_id
    assert rows(path) == list(range(1, 601))
    assert "newest point shipped" in done["point"]["said"], done["point"]

    # a point in time between two commits: exactly the commits shipped by then
    cut = marks[300] + 0.001
    service.restore("dev", "tester", to_time=cut)
    got = rows(path)
    assert got == list(range(1, len(got) + 1)) and 0 < len(got) < 600  # a prefix, never a gap
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # at or after the window's end: restored to the end, and the result says so
    later = service.restore("dev", "tester", to_time=time.time() + 3600)
    assert rows(path) == list(range(1, 601))
    assert later["to_time"] is None and later["point"]["newest"] is True
    assert "end of the recoverable window" in later["point"]["said"], later["point"]
    assert "WAL generation" in later["point"]["position"]

    # before the window: a clear error naming it
    with pytest.raises(BackupError) as info:
        service.restore("dev", "tester", to_time=1000.0)
    assert "outside the recoverable window" in info.value.message


def test_plain_restore_reaches_the_newest_point_past_a_newer_snapshot(ctx: Context) -> None:
    path = live_db(ctx, rows=0)
    service = backup_service(ctx)
    shipper = WalShipper(service, "dev")
    assert shipper.begin()
    write(path, 1, 5, {})
    shipper.tick_once()
    snapshot = service.create("dev")  # newer than the continuous base, older than the marker
    write(path, 6, 1, {})  # the marker
    shipper.tick_once()
    idle_from = time.time()
    shipper.tick_once()  # nothing new: the head alone moves the window's end
    shipper._close()
    base = next(r for r in service.catalog("dev").records if r.kind == "continuous")
    assert service.window(base)[1] >= idle_from

    done = service.restore("dev", "tester")
    assert done["restored"] == base.id != snapshot.id
    assert rows(path) == [1, 2, 3, 4, 5, 6]
    assert done["point"]["at"] >= idle_from and "newest point shipped" in done["point"]["said"]
    # the position names the newest segment shipped (its generation depends on when SQLite
    # restarted its WAL around the snapshot, so it is read from what was shipped)
    newest = max(o.name for o in service.storage("dev").list() if o.name.endswith(".seg"))
    assert done["point"]["position"].endswith(f"segment {newest.rsplit('/', 1)[-1]}")
    step = service.ctx.store.deployment(done["deployment"]).steps[-1]
    assert step.name == "point" and "newest point shipped" in step.detail


def test_a_missing_segment_is_refused(ctx: Context) -> None:
    path = live_db(ctx, rows=0)
    service = backup_service(ctx)
    shipper = WalShipper(service, "dev")
    assert shipper.begin()
    for i in range(3):
        write(path, 10 * i + 1, 5, {})
        assert shipper.ship_once() > 0
    shipper._close()
    segments = [o.name for o in service.storage("dev").list() if o.name.endswith(".seg")]
    assert len(segments) == 3
    service.storage("dev").delete(segments[1])
    with pytest.raises(BackupError, match="WAL segment missing"):
        service.restore("dev", "tester")
    assert rows(path) == [1, 2, 3, 4, 5, 11, 12, 13, 14, 15, 21, 22, 23, 24, 25]  # untouched
    checked = service.verify("dev")
    assert checked.verification is not None and not checked.verification.ok


def test_someone_elses_wal_restart_is_detected(ctx: Context) -> None:
    path = live_db(ctx, rows=0)
    shipper = WalShipper(backup_service(ctx), "dev")
    assert shipper.begin()
    write(path, 1, 5, {})
    assert shipper.ship_once() > 0  # it has seen this WAL generation, as every tick does
    shipper._close()  # the shipper's read lock is gone (as if it had been killed)
    conn = sqlite3.connect(path)
    for _ in range(100):  # a reader not yet collected can make one attempt busy: the WAL must restart
        busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if busy == 0 and path.with_name(path.name + "-wal").stat().st_size == 0:
            break
        time.sleep(0.02)
    else:
        raise AssertionError("the WAL could not be checkpointed and truncated")
    conn.execute("INSERT INTO notes (id, text) VALUES (99, 'after')")
    conn.commit()
    try:  # kept open: the last connection to close checkpoints and deletes the WAL file
        with pytest.raises(BackupError, match="restarted by someone else"):
            shipper.ship_once()
    finally:
        conn.close()


def ref(gen: int, first: int, count: int, at: float = 0.0) -> SegmentRef:
    return SegmentRef(f"dev/b/wal/{gen}-{first}", gen, first, count, at)


@pytest.mark.parametrize(
    ("refs", "start", "to_time", "expected"),
    [
        ([ref(1, 5, 3), ref(1, 8, 2)], (1, 4), None, 2),
        ([ref(1, 5, 3), ref(2, 1, 4), ref(2, 5, 1)], (1, 4), None, 3),
        ([ref(1, 5, 3, 1.0), ref(1, 8, 2, 2.0)], (1, 4), 1.5, 1),
        ([ref(2, 1, 3)], (1, 0), None, 1),  # the base had no WAL yet
        ([], (1, 4), None, 0),
    ],
)
def test_plan_replay(
    refs: list[SegmentRef], start: tuple[int, int], to_time: float | None, expected: int
) -> None:
    assert len(plan_replay(refs, start[0], start[1], to_time)) == expected


@pytest.mark.parametrize(
    "refs",
    [[ref(1, 6, 3)], [ref(1, 5, 3), ref(1, 9, 2)], [ref(1, 5, 3), ref(3, 1, 1)], [ref(2, 2, 1)]],
)
def test_plan_replay_refuses_gaps(refs: list[SegmentRef]) -> None:
    with pytest.raises(BackupError, match="WAL segment missing"):
        plan_replay(refs, 1, 4, None)


def test_wal_checksum_matches_sqlite_definition() -> None:
    # two words per step: s0 += x0 + s1; s1 += x1 + s0 (mod 2**32), big endian here
    data = struct.pack(">4I", 1, 2, 3, 4)
    s0, s1 = 1, 1 + 2  # first pair: s0 = 0 + 1 + 0, s1 = 0 + 2 + 1
    s0, s1 = s0 + 3 + s1, 0
    s1 = 3 + 4 + s0
    assert checksum(data, True) == (s0, s1)
