"""Tiered retention and schedules as tables: which backups are kept, which jobs are due."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shipyard.core.backups import BackupRecord, Catalog, Verification, due_jobs
from shipyard.core.cron import check_cron, due, next_after
from shipyard.core.retention import Policy, plan_retention

NOW = datetime(2026, 12, 1, 12, 30, tzinfo=UTC).timestamp()
H = 3600.0
D = 86400.0


def rec(
    name: str, age: float, kind: str = "scheduled", status: str = "complete", base: str | None = None
) -> BackupRecord:
    t = NOW - age
    return BackupRecord(name, "dev", "sqlite", kind, status, t, t + 1, base=base, recoverable_to=t)


def kept(records: list[BackupRecord], policy: Policy) -> list[str]:
    decision = plan_retention(tuple(records), policy, NOW)
    assert set(decision.keep) | set(decision.delete) == {r.id for r in records}
    return sorted(decision.keep)


HOURLY_ONLY = Policy(hourly_days=1, daily_days=0, weekly_weeks=0, monthly_months=0, minimum=1)


@pytest.mark.parametrize(
    ("records", "policy", "expected"),
    [
        # one per hour for a day: the newest of each hour within 1 day
        ([rec("a", 0.1 * H), rec("b", 0.2 * H), rec("c", 1 * H), rec("d", 25 * H)], HOURLY_ONLY, ["a", "c"]),
        # the minimum keeps the newest good backup even when every tier is past
        ([rec("old", 400 * D), rec("older", 500 * D)], Policy(0, 0, 0, 0, 1), ["old"]),
        ([rec("old", 400 * D), rec("older", 500 * D)], Policy(0, 0, 0, 0, 2), ["old", "older"]),
        # daily: the newest of each UTC day for N days
        (
            [rec("today", 1 * H), rec("today-early", 12 * H), rec("yesterday", 20 * H), rec("d3", 2.6 * D)],
            Policy(0, 2, 0, 0, 1),
            ["today", "yesterday"],
        ),
        # weekly and monthly reach further back
        (
            [rec("w0", 1 * D), rec("w1", 8 * D), rec("w5", 36 * D), rec("m3", 95 * D), rec("y2", 800 * D)],
            Policy(0, 0, 2, 4, 1),
            ["m3", "w0", "w1", "w5"],
        ),
        # a failed attempt is kept a week for the record, never counts as the newest good one
        (
            [
                rec("bad", 0.1 * H, status="failed"),
                rec("good", 30 * H),
                rec("bad-old", 8 * D, status="failed"),
            ],
            Policy(0, 0, 0, 0, 1),
            ["bad", "good"],
        ),
        # manual backups and the safety backups before a migration or a restore are kept a day
        (
            [
                rec("new", 0.1 * H),
                rec("pre", 0.2 * H, kind="pre-migrate"),
                rec("pre-old", 2 * D, kind="pre-restore"),
                rec("asked", 0.3 * H, kind="manual"),
            ],
            HOURLY_ONLY,
            ["asked", "new", "pre"],
        ),
        # the newest continuous base is the live WAL chain's: kept whatever the tiers say
        (
            [
                rec("snap", 0.1 * H),
                rec("live", 0.5 * H, kind="continuous"),
                rec("old", 3 * D, kind="continuous"),
            ],
            HOURLY_ONLY,
            ["live", "snap"],
        ),
        # a kept backup keeps what it builds on, transitively
        (
            [rec("inc2", 0.1 * H, base="inc1"), rec("inc1", 40 * D, base="full"), rec("full", 90 * D)],
            HOURLY_ONLY,
            ["full", "inc1", "inc2"],
        ),
        # the recovery window keeps everything in it, and the newest backup before its start
        (
            [rec("r1", 1 * H), rec("r2", 1.5 * H), rec("r3", 30 * H), rec("r4", 60 * H), rec("r5", 70 * H)],
            Policy(0, 0, 0, 0, 1, window_s=2 * D),
            ["r1", "r2", "r3", "r4"],
        ),
    ],
)
def test_retention(records: list[BackupRecord], policy: Policy, expected: list[str]) -> None:
    assert kept(records, policy) == expected


def test_deletions_are_oldest_first_with_reasons_for_the_kept() -> None:
    decision = plan_retention((rec("a", 0.1 * H), rec("b", 0.2 * H), rec("c", 0.3 * H)), HOURLY_ONLY, NOW)
    assert decision.delete == ("c", "b")
    assert decision.keep["a"].startswith("one of the 1 newest")


@pytest.mark.parametrize(
    ("expression", "last", "now", "expected"),
    [
        ("0 * * * *", NOW - 31 * 60, NOW, True),  # 12:00 passed since 11:59
        ("0 * * * *", NOW - 29 * 60, NOW, False),  # last run 12:01: next is 13:00
        ("0 3 * * *", NOW - 10 * H, NOW, True),
        ("0 3 * * *", NOW - 9 * H, NOW, False),  # 03:30 > 03:00
        ("0 4 1 * *", NOW - 40 * D, NOW, True),  # monthly
        ("0 4 1 * *", NOW - 1 * H, NOW, False),
    ],
)
def test_due(expression: str, last: float, now: float, expected: bool) -> None:
    assert due(expression, last, now) is expected


def test_next_after_is_utc() -> None:
    assert datetime.fromtimestamp(next_after("0 3 * * *", NOW), UTC) == datetime(
        2026, 12, 2, 3, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("expression", "message"),
    [("* * *", "has 3 fields"), ("61 * * * *", "not a valid cron"), ("0 0 * * * *", "has 6 fields")],
)
def test_bad_cron(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_cron(expression)


def test_due_jobs_from_the_catalog() -> None:
    since = NOW - 1 * H  # the scheduler started at 11:30
    empty = Catalog("dev")
    assert due_jobs(empty, "0 * * * *", "0 4 1 * *", since, NOW) == ["backup"]  # no backup: nothing to verify
    fresh = Catalog("dev", (rec("a", 0.1 * H),))
    assert due_jobs(fresh, "0 * * * *", "0 4 1 * *", since, NOW) == []
    verified = BackupRecord(
        "v",
        "dev",
        "sqlite",
        "manual",
        "complete",
        NOW - 50 * D,
        NOW - 50 * D,
        verification=Verification(NOW - 45 * D, True, 1.0, "ok"),
    )
    assert due_jobs(Catalog("dev", (verified,)), None, "0 4 1 * *", since, NOW) == ["verify"]
    # started at 02:30 today: the monthly test of 04:00 on the 1st is due
    assert due_jobs(fresh, "0 * * * *", "0 4 1 * *", NOW - 10 * H, NOW) == ["verify"]
