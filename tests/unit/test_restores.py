"""Restores: which backup and point a restore reaches (a table over ``core.restore_point``),
and a restore over a live SQLite file that is no database any more (real files)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from tests.unit.test_backup_service import count, live_db, make_ctx
from tests.unit.wiring import backup_service

from shipyard.core.restore_point import Choice, Reach, choose, describe
from shipyard.engine.context import Context

SNAP_OLD = Reach("s-old", 100.0, 100.0, False)
BASE = Reach("c-base", 150.0, 400.0, True)  # continuous: window 150..400
SNAP_NEW = Reach("s-new", 300.0, 300.0, False)  # newer than the base, but reaches less far
BASE2 = Reach("c-base2", 500.0, 600.0, True)


@pytest.mark.parametrize(
    ("reaches", "to_time", "expected"),
    [
        ([SNAP_OLD, BASE, SNAP_NEW], None, Choice("c-base", None, True, None, True)),
        ([SNAP_OLD, SNAP_NEW], None, Choice("s-new", None, True, None, False)),
        ([SNAP_OLD, BASE, SNAP_NEW, BASE2], None, Choice("c-base2", None, True, None, True)),
        ([SNAP_OLD, BASE, SNAP_NEW], 200.0, Choice("c-base", 200.0, False, 200.0, True)),
        ([SNAP_OLD, BASE, SNAP_NEW], 400.0, Choice("c-base", None, True, 400.0, True)),  # at the end
        ([SNAP_OLD, BASE, SNAP_NEW], 9999.0, Choice("c-base", None, True, 9999.0, True)),  # after it
        ([SNAP_OLD, BASE, BASE2], 450.0, None),  # between two windows: refused
        ([SNAP_OLD, BASE], 120.0, None),  # before every window
        ([SNAP_OLD, SNAP_NEW], 120.0, None),  # no continuous backup
        ([], None, None),
    ],
)
def test_choose(reaches: list[Reach], to_time: float | None, expected: Choice | None) -> None:
    assert choose(reaches, to_time) == expected


def test_describe_says_which_point() -> None:
    newest = describe(Choice("c", None, True, None), 0.0, "segment x")
    assert newest == (
        "restored to the newest point shipped (the end of the recoverable window), "
        "1970-01-01T00:00:00Z (segment x)"
    )
    late = describe(Choice("c", None, True, 60.0), 30.0, "")
    assert "end of the recoverable window, 1970-01-01T00:00:30Z" in late and "00:01:00Z" in late
    assert describe(Choice("c", 5.0, False, 5.0), 5.0, "") == "restored to 1970-01-01T00:00:05Z, as asked"
    assert describe(Choice("s", None, True, None, False), 0.0, "").startswith("restored the snapshot")


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Context:
    monkeypatch.delenv("SHIPYARD_BACKUP_KEY", raising=False)
    return make_ctx(tmp_path)


def test_restore_over_a_file_that_is_no_database_keeps_it_aside(ctx: Context) -> None:
    path = live_db(ctx, rows=7)
    service = backup_service(ctx)
    service.create("dev")
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO notes (text) VALUES ('after the backup')")
    conn.commit()
    conn.close()
    garbage = b"this is not a database " * 300
    path.write_bytes(garbage)
    wal = path.with_name(path.name + "-wal")
    wal.write_bytes(b"a stale WAL of the broken file")

    done = service.restore("dev", "tester")
    assert count(path) == 7
    assert done["safety_backup"] is None
    kept = Path(done["kept_aside"])
    assert kept.parent == path.parent and kept.name.startswith("notes.db.broken-")
    assert kept.read_bytes() == garbage  # kept as it was, never deleted
    assert kept.with_name(kept.name + "-wal").read_bytes() == b"a stale WAL of the broken file"
    steps = {s.name: s.detail for s in ctx.store.deployment(done["deployment"]).steps}
    assert "safety backup skipped" in steps["safety-backup"] and "not a database" in steps["safety-backup"]
    assert str(kept) in steps["restore"]
    assert [b.kind for b in service.catalog("dev").records] == ["manual"]  # no safety backup taken
