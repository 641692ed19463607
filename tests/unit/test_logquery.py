"""Log search filters and retention decisions (pure, as tables)."""

from __future__ import annotations

import pytest

from shipyard.core.logquery import (
    ArchiveInfo,
    TextMatch,
    parse_when,
    pressure_plan,
    retention_plan,
    text_match,
)
from shipyard.manifest.loader import parse_manifest
from shipyard.manifest.logs import DAY, parse_age, parse_size, retention_for

NOW = 1_764_590_400.0


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("disk full", TextMatch('"disk" AND "full"*', "disk full")),
        ("Disk Ful", TextMatch('"Disk" AND "Ful"*', "disk ful")),
        ('say "hi" ', TextMatch('"say" AND "hi"', 'say "hi"')),
        ("GET /notes/", TextMatch('"GET" AND "notes"', "get /notes/")),
        ("x-request-id", TextMatch('"x" AND "request" AND "id"', "x-request-id")),
        ("request-ids", TextMatch('"request" AND "ids"*', "request-ids")),
        ("Élan", TextMatch('"Élan"*', "Élan")),
        ("->", TextMatch(None, "->")),
        ("   ", TextMatch(None, None)),
        ("", TextMatch(None, None)),
        ("AND OR NOT NEAR(", TextMatch('"AND" AND "OR" AND "NOT" AND "NEAR"', "and or not near(")),
    ],
)
def test_text_match_is_always_a_valid_fts_query(text: str, match: TextMatch) -> None:
    assert text_match(text) == match


@pytest.mark.parametrize(
    ("value", "at"),
    [
        ("10m", NOW - 600),
        ("1h30m", NOW - 5400),
        ("7d", NOW - 7 * DAY),
        (str(NOW - 5), NOW - 5),
        ("2025-12-01T12:00:00+00:00", NOW),
    ],
)
def test_parse_when(value: str, at: float) -> None:
    assert parse_when(value, NOW) == pytest.approx(at)


def test_parse_when_says_what_is_accepted() -> None:
    with pytest.raises(ValueError, match="write an age such as 10m"):
        parse_when("last tuesday", NOW)


@pytest.mark.parametrize(
    ("value", "seconds"), [("90d", 90 * DAY), ("12w", 84 * DAY), ("7y", 7 * 365 * DAY), ("36h", 1.5 * DAY)]
)
def test_parse_age(value: str, seconds: float) -> None:
    assert parse_age(value) == seconds


@pytest.mark.parametrize("value", ["0d", "forever", "-1y", True])
def test_parse_age_refuses(value: object) -> None:
    with pytest.raises(ValueError):
        parse_age(value)


@pytest.mark.parametrize(("value", "size"), [("500MB", 500 * 10**6), ("2GiB", 2 * 2**30), ("1.5 GB", 1.5e9)])
def test_parse_size(value: str, size: int) -> None:
    assert parse_size(value) == size


@pytest.mark.parametrize("value", [1000, "1000", "10KB", "big"])
def test_parse_size_refuses(value: object) -> None:
    with pytest.raises(ValueError):
        parse_size(value)


def _manifest(logs: object = None, env_logs: object = None) -> object:
    data: dict[str, object] = {
        "app": "notes",
        "processes": {"web": {"command": "run"}},
        "environments": {"dev": {"port": 8080}, "prod": {"port": 8081}},
    }
    if logs is not None:
        data["logs"] = logs
    if env_logs is not None:
        data["environments"] = {"dev": {"port": 8080}, "prod": {"port": 8081, "logs": env_logs}}
    return parse_manifest(data)


def test_retention_defaults_and_per_environment_override() -> None:
    manifest = _manifest({"hot": "30d", "cold": "1y"}, {"hot": "7d"})
    assert retention_for(manifest, "dev").hot == 30 * DAY  # type: ignore[arg-type]
    prod = retention_for(manifest, "prod")  # type: ignore[arg-type]
    assert (prod.hot, prod.cold) == (7 * DAY, 365 * DAY)
    default = retention_for(_manifest(), "dev")  # type: ignore[arg-type]
    assert (default.hot, default.cold) == (90 * DAY, 7 * 365 * DAY)


@pytest.mark.parametrize(
    ("logs", "env_logs", "where"),
    [
        ({"hot": "90d", "cold": "30d"}, None, "logs: cold (30d) is shorter than hot (90d)"),
        ({"cold": "30d"}, None, "logs: cold (30d) is shorter than hot (90d)"),
        (None, {"hot": "8y"}, "environments.prod.logs: cold (2555d) is shorter than hot (2920d)"),
        ({"hot": "9d", "keep": "1y"}, None, "logs.keep"),
        ({"max_size": 1000}, None, "logs.max_size"),
    ],
)
def test_bad_retention_is_refused_with_its_key(logs: object, env_logs: object, where: str) -> None:
    from shipyard.errors import ManifestError

    with pytest.raises(ManifestError) as info:
        _manifest(logs, env_logs)
    assert where in info.value.message


HOT, COLD = 10 * DAY, 100 * DAY


@pytest.mark.parametrize(
    ("archives", "deleted"),
    [
        ([], ()),
        ([ArchiveInfo("a", "dev", NOW - 99 * DAY)], ()),
        ([ArchiveInfo("a", "dev", NOW - 101 * DAY), ArchiveInfo("b", "dev", NOW - 50 * DAY)], ("a",)),
        # prod keeps its archives for 400 days
        ([ArchiveInfo("p", "prod", NOW - 300 * DAY)], ()),
        ([ArchiveInfo("p", "prod", NOW - 401 * DAY)], ("p",)),
        # an environment gone from shipyard.yaml keeps the top-level ages
        ([ArchiveInfo("g", "gone", NOW - 101 * DAY)], ("g",)),
    ],
)
def test_retention_plan_deletes_archives_past_cold(
    archives: list[ArchiveInfo], deleted: tuple[str, ...]
) -> None:
    ages = {"dev": (HOT, COLD), "prod": (30 * DAY, 400 * DAY)}
    plan = retention_plan(ages, (HOT, COLD), ["dev", "gone"], archives, NOW)
    assert plan.delete == deleted
    assert plan.archive_before == {"dev": NOW - HOT, "gone": NOW - HOT, "prod": NOW - 30 * DAY}


@pytest.mark.parametrize(
    ("stored", "shed"), [(0, 0), (10, 10), (5000, 1000), (20_000, 2000), (1_000_000, 100_000)]
)
def test_pressure_plan_sheds_the_oldest_tenth(stored: int, shed: int) -> None:
    assert pressure_plan(stored) == shed
