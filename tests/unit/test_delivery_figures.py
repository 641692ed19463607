"""The delivery figures (DORA measures) of ``shipyard stats``, computed from tables of
deployments: frequency, success rate, lead time, change failure rate, time to restore."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from tests.unit.test_pipeline_runs import make

from shipyard.core.alerts import METRICS, parse_condition
from shipyard.core.pipeline.figures import DAY, Delivery, compute
from shipyard.core.records import NewDeployment
from shipyard.engine.pipeline.figures import DeliveryFigures
from shipyard.engine.shared import PlatformFacts
from shipyard.errors import NotFoundError

H = 3600.0


def dep(
    i: int,
    at: float,
    status: str = "succeeded",
    kind: str = "deploy",
    live: bool = True,
    release: str | None = None,
    from_release: str | None = None,
    took: float = 60.0,
    committed: float | None = None,
    created: float | None = None,
) -> Delivery:
    return Delivery(
        id=i,
        kind=kind,
        status=status,
        release=release or f"r{i}",
        from_release=from_release,
        started_at=at,
        finished_at=at + took,
        went_live=live,
        committed_at=committed,
        created_at=created,
    )


def test_no_deployments_give_no_rates() -> None:
    figures = compute("dev", [], 0.0, 30 * DAY)
    assert (figures.changes, figures.per_day, figures.success_rate) == (0, 0.0, None)
    assert (figures.change_failure_rate, figures.lead_time, figures.time_to_restore) == (None, None, None)
    assert figures.lead_time_from == "none"


@pytest.mark.parametrize(
    ("deps", "changes", "succeeded", "rate"),
    [
        ([dep(1, 1 * H), dep(2, 2 * H), dep(3, 3 * H, "failed", live=False)], 3, 2, 2 / 3),
        (
            [dep(1, 1 * H), dep(2, 2 * H, "rejected", live=False), dep(3, 3 * H, "expired", live=False)],
            1,
            1,
            1.0,
        ),
        ([dep(1, 1 * H), dep(2, 2 * H, kind="rollback"), dep(3, 3 * H, kind="restore")], 1, 1, 1.0),
        ([dep(1, 1 * H, kind="promote"), dep(2, 2 * H, "rolled_back")], 2, 1, 0.5),
        ([dep(1, -1 * H), dep(2, 2 * H, "failed")], 1, 0, 0.0),  # the first is before the window
    ],
)
def test_success_rate_counts_changes_tried_in_the_window(
    deps: list[Delivery], changes: int, succeeded: int, rate: float
) -> None:
    figures = compute("dev", deps, 0.0, 10 * DAY)
    assert (figures.changes, figures.succeeded) == (changes, succeeded)
    assert figures.success_rate == pytest.approx(rate)
    assert figures.per_day == pytest.approx(succeeded / 10)


@pytest.mark.parametrize(
    ("deps", "lead", "source"),
    [
        (
            [dep(1, 10 * H, committed=8 * H), dep(2, 20 * H, committed=19 * H)],
            (2 * H + 60 + 1 * H + 60) / 2,
            "commit",
        ),
        ([dep(1, 10 * H, created=9 * H)], 1 * H + 60, "release creation"),
        (
            [
                dep(1, 10 * H, committed=4 * H),
                dep(2, 20 * H, created=19 * H),
                dep(3, 30 * H, committed=29 * H),
            ],
            1 * H + 60,
            "commit and release creation",
        ),
        ([dep(1, 10 * H, "failed", committed=1 * H)], None, "none"),  # only succeeded changes count
    ],
)
def test_lead_time_is_the_median_from_commit_or_creation(
    deps: list[Delivery], lead: float | None, source: str
) -> None:
    figures = compute("dev", deps, 0.0, 10 * DAY)
    assert figures.lead_time == (pytest.approx(lead) if lead is not None else None)
    assert figures.lead_time_from == source


def test_change_failures_count_failures_after_going_live_and_later_rollbacks() -> None:
    deps = [
        dep(1, 1 * H),  # fine
        dep(2, 2 * H, "failed", live=False),  # failed before the switch: not a change failure
        dep(3, 3 * H, "rolled_back"),  # canary rolled back: change failure, restored by 4
        dep(4, 4 * H, release="r4"),  # live, then rolled back by hand (5): change failure
        dep(5, 5 * H, kind="rollback", release="r1", from_release="r4", took=30),
        dep(6, 6 * H, "failed"),  # failed after the switch, never restored since
    ]
    figures = compute("dev", deps, 0.0, 10 * DAY)
    assert figures.went_live == 4
    assert figures.change_failures == 3
    assert figures.change_failure_rate == pytest.approx(3 / 4)
    # 3 failed at 3h+60s and 4 restored at 4h+60s (1h); 4 failed when 5 started (5h), 5 ended 30s later
    assert figures.restored == 2
    assert figures.time_to_restore == pytest.approx((1 * H + 30) / 2)
    assert figures.unrestored == 1


def test_a_rollback_after_a_newer_change_does_not_blame_the_older_one() -> None:
    deps = [
        dep(1, 1 * H, release="r1"),
        dep(2, 2 * H, release="r2"),
        dep(3, 3 * H, kind="rollback", release="r1", from_release="r2"),
    ]
    figures = compute("dev", deps, 0.0, 10 * DAY)
    assert figures.change_failures == 1  # r2 only
    assert figures.time_to_restore == pytest.approx(60.0)


def test_the_figures_are_alert_metrics_and_platform_facts(tmp_path: Path) -> None:
    condition = parse_condition("deploy_success_rate < 95%")
    assert condition.metric == "deploy_success_rate" and condition.threshold == pytest.approx(0.95)
    assert {"change_failure_rate", "lead_time", "time_to_restore"} <= set(METRICS)
    ctx = make(tmp_path, {"only": {"commands": ["true"]}})
    for status in ("succeeded", "failed", "succeeded", "succeeded"):
        new = NewDeployment(env="dev", kind="deploy", requested_by="ana", release_id="r1")
        dep_id = ctx.store.begin_deployment(new, ctx.owner)
        ctx.store.finish_deployment(dep_id, status)
    facts = PlatformFacts()
    DeliveryFigures(ctx).register_facts(facts)
    fact = facts.get("deploy_success_rate")
    assert fact is not None and fact("dev", time.time() + 1) == pytest.approx(0.75)
    lead = facts.get("lead_time")
    assert lead is not None and (lead("dev", time.time() + 2) or 0) > 0  # from r1's creation
    with pytest.raises(NotFoundError, match=r"'prod' is not in shipyard\.yaml"):
        DeliveryFigures(ctx).figures("prod", DAY)
