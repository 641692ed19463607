"""Pure parts of managed PostgreSQL: URL, recovery settings, WAL names, gaps, slot names."""

from __future__ import annotations

import pytest

from shipyard.core.database import is_external
from shipyard.core.postgres import (
    Cluster,
    app_url,
    format_time,
    missing_segments,
    recovery_settings,
    slot_name,
    wal_key,
    wal_name,
)
from shipyard.manifest.database import Database


def test_app_url_quotes_the_password() -> None:
    url = app_url(Cluster(5433, "su", "p@ss/word"))
    assert url == "postgresql://app:p%40ss%2Fword@127.0.0.1:5433/app"


@pytest.mark.parametrize(
    ("ts", "text"),
    [
        (0.0, "1970-01-01 00:00:00.000000+00"),
        (1796136616.25, "2026-12-01 14:50:16.250000+00"),
        (59.9999996, "1970-01-01 00:01:00.000000+00"),  # rounding carries into the second
    ],
)
def test_format_time(ts: float, text: str) -> None:
    assert format_time(ts) == text


def test_recovery_settings_to_a_time_promote_there() -> None:
    lines = recovery_settings("/w", 0.5, 6000)
    assert lines[0] == "port = 6000"
    assert 'restore_command = \'cp "/w/%f" "%p"\'' in lines
    assert "recovery_target_time = '1970-01-01 00:00:00.500000+00'" in lines
    assert "recovery_target_action = 'promote'" in lines


def test_recovery_settings_to_the_end_set_no_target() -> None:
    lines = recovery_settings("/w", None)
    assert not any(line.startswith(("port =", "recovery_target_time =")) for line in lines)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("000000010000000000000003", (1, 3)),
        ("000000010000000100000000", (1, 256)),
        ("0000000200000000000000FF.partial", (2, 255)),
        ("00000002.history", None),
        ("backup_manifest", None),
        ("000000010000000000000003.gz", None),
    ],
)
def test_wal_key(name: str, key: tuple[int, int] | None) -> None:
    assert wal_key(name) == key


def test_wal_names_round_trip_and_order() -> None:
    names = [wal_name(1, s) for s in (300, 2, 255, 256)]
    assert names[0] == "00000001000000010000002C"
    assert sorted(names, key=lambda n: wal_key(n) or (0, 0)) == [wal_name(1, s) for s in (2, 255, 256, 300)]


@pytest.mark.parametrize(
    ("segments", "gaps"),
    [
        ([2, 3, 4], []),
        ([2, 4], [3]),
        ([255, 257], [256]),  # across a log boundary
        ([], []),
    ],
)
def test_missing_segments(segments: list[int], gaps: list[int]) -> None:
    names = [wal_name(1, s) for s in segments]
    assert missing_segments(names) == [wal_name(1, s) for s in gaps]


def test_missing_segments_ignore_a_new_timeline_and_a_partial() -> None:
    names = [wal_name(1, 5), wal_name(2, 9), wal_name(1, 6) + ".partial"]
    assert missing_segments(names) == []


@pytest.mark.parametrize(("env", "slot"), [("dev", "shipyard_dev"), ("Prod-EU", "shipyard_prod_eu")])
def test_slot_name(env: str, slot: str) -> None:
    assert slot_name(env) == slot


def test_a_server_given_by_url_is_external() -> None:
    assert is_external(Database(engine="postgres", url="postgresql://db/app"))
    assert not is_external(Database(engine="postgres", managed=True))
    assert not is_external(Database())
