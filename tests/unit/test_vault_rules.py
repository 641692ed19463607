"""The vault's pure rules: names, due dates, version pruning, purge dates, check-and-set."""

from __future__ import annotations

import pytest

from shipyard.core.vault import (
    SecretMeta,
    check_name,
    check_write,
    due_at,
    due_state,
    purge_after,
    versions_to_drop,
)
from shipyard.errors import ConflictError, VaultError

DAY = 86400.0
NOW = 1_000 * DAY


def meta(**kw: object) -> SecretMeta:
    base: dict[str, object] = dict(
        env="dev",
        name="A",
        version=3,
        created_at=0.0,
        created_by="a",
        updated_at=NOW - 10 * DAY,
        updated_by="a",
    )
    return SecretMeta(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({}, None),
        ({"rotate_every": 90 * DAY}, NOW + 80 * DAY),
        ({"expires_at": NOW + 5 * DAY}, NOW + 5 * DAY),
        ({"rotate_every": 90 * DAY, "expires_at": NOW + 100 * DAY}, NOW + 80 * DAY),
        ({"rotate_every": 90 * DAY, "expires_at": NOW + 1 * DAY}, NOW + 1 * DAY),
    ],
)
def test_due_at_is_the_earlier_of_rotation_and_expiry(kw: dict[str, object], expected: float | None) -> None:
    assert due_at(meta(**kw)) == expected


@pytest.mark.parametrize(
    ("kw", "state"),
    [
        ({"rotate_every": 5 * DAY}, "overdue"),  # updated 10 days ago, every 5 days
        ({"rotate_every": 10 * DAY}, "overdue"),  # due exactly now
        ({"rotate_every": 30 * DAY}, "due"),  # 20 days left, window 30
        ({"rotate_every": 50 * DAY}, None),  # 40 days left
        ({"expires_at": NOW - 1}, "overdue"),
        ({"expires_at": NOW - 1, "deleted_at": NOW - DAY}, None),  # deleted secrets are not due
        ({}, None),
    ],
)
def test_due_state(kw: dict[str, object], state: str | None) -> None:
    assert due_state(meta(**kw), NOW, 30 * DAY) == state


@pytest.mark.parametrize(
    ("versions", "keep", "dropped"),
    [([1, 2, 3], 10, []), ([3, 1, 2], 2, [1]), ([5, 6, 7, 8], 1, [5, 6, 7]), ([], 3, [])],
)
def test_versions_to_drop_keeps_the_newest(versions: list[int], keep: int, dropped: list[int]) -> None:
    assert versions_to_drop(versions, keep) == dropped


def test_purge_after_counts_from_the_deletion() -> None:
    assert purge_after(meta(), 90 * DAY) is None
    assert purge_after(meta(deleted_at=NOW, deleted_by="b"), 90 * DAY) == NOW + 90 * DAY


@pytest.mark.parametrize(
    ("current", "cas", "result"),
    [
        (None, None, 1),
        (None, 0, 1),
        (meta(), None, 4),
        (meta(), 3, 4),
        (meta(), 2, "changed"),
        (None, 3, "changed"),
    ],
)
def test_check_and_set(current: SecretMeta | None, cas: int | None, result: object) -> None:
    if result == "changed":
        with pytest.raises(ConflictError, match="changed since you read it"):
            check_write(current, "dev", "A", cas)
    else:
        assert check_write(current, "dev", "A", cas) == result


def test_a_deleted_secret_is_not_written_over() -> None:
    with pytest.raises(ConflictError, match="is deleted") as caught:
        check_write(meta(deleted_at=NOW, deleted_by="b"), "dev", "A", None)
    assert "shipyard secrets recover dev A" in caught.value.hint


@pytest.mark.parametrize("name", ["DATABASE_URL", "_x", "a1", "A" * 128])
def test_valid_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("1A", "invalid"),
        ("A-B", "invalid"),
        ("A" * 129, "invalid"),
        ("PORT", "reserved"),
        ("SHIPYARD_X", "reserved"),
    ],
)
def test_invalid_names(name: str, why: str) -> None:
    with pytest.raises(VaultError, match=why):
        check_name(name)
