"""Stored metrics: roll-up of raw points into 5-minute means, retention, summaries; and the
recorder's maintenance over a real SQLite store with a fake clock."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from shipyard.core.metrics import (
    RAW,
    RAW_KEEP_S,
    ROLLUP_KEEP_S,
    ROLLUP_S,
    Point,
    resolution_for,
    rollup,
    summarize,
)
from shipyard.engine.observe.metrics import MetricsRecorder
from shipyard.state.store import open_store


def raw(at: float, value: float, metric: str = "request_rate", series: str = "release=r1") -> dict[str, Any]:
    return Point("dev", metric, series, at, value).row()


def test_rollup_averages_each_bucket_and_series_weighting_samples() -> None:
    rows = [raw(0, 10), raw(10, 20), raw(299, 30), raw(300, 100), raw(5, 1, series="release=r2")]
    out = {(r["series"], r["at"]): (r["value"], r["samples"]) for r in rollup(rows)}
    assert out == {
        ("release=r1", 0.0): (20.0, 3),
        ("release=r1", 300.0): (100.0, 1),
        ("release=r2", 0.0): (1.0, 1),
    }
    again = rollup(
        [{**r, "samples": 3} for r in rollup(rows[:3])] + [raw(20, 40)]
    )  # a mean of means is weighted
    assert again[0]["value"] == pytest.approx((20 * 3 + 40) / 4) and again[0]["samples"] == 4


def test_resolution_and_summary() -> None:
    assert resolution_for(3600) == RAW and resolution_for(7 * 86400) == ROLLUP_S
    summary = summarize([raw(0, 3), raw(10, 1), raw(20, 2)])
    assert summary == [
        {
            "metric": "request_rate",
            "series": "release=r1",
            "unit": "req/s",
            "points": 3,
            "from": 0,
            "to": 20,
            "last": 2,
            "min": 1,
            "mean": 2,
            "max": 3,
        }
    ]


def test_recorder_rolls_up_complete_buckets_and_expires(tmp_path: Path) -> None:
    store = open_store(tmp_path / "state.db")
    recorder = MetricsRecorder(SimpleNamespace(store=store))  # type: ignore[arg-type]
    start = 1_700_000_100.0 - 1_700_000_100.0 % ROLLUP_S
    store.observe.add_points([raw(start + i * 10, float(i)) for i in range(60)])  # 10 minutes
    recorder.maintain(start + 600 + 5)  # both buckets are complete
    rolled = store.observe.points("dev", 0, ROLLUP_S)
    assert [(r["at"], r["value"], r["samples"]) for r in rolled] == [
        (start, 14.5, 30),
        (start + 300, 44.5, 30),
    ]
    recorder.maintain(start + 600 + 20)  # nothing new is complete: nothing rolled twice
    assert len(store.observe.points("dev", 0, ROLLUP_S)) == 2
    later = start + RAW_KEEP_S + 900
    recorder.maintain(later)
    assert store.observe.points("dev", 0, RAW) == []  # raw points past a day are gone
    assert len(store.observe.points("dev", 0, ROLLUP_S)) == 2  # the roll-ups stay a month
    recorder.maintain(start + ROLLUP_KEEP_S + 1200)
    assert store.observe.points("dev", 0, ROLLUP_S) == []
    fresh = MetricsRecorder(SimpleNamespace(store=store))  # type: ignore[arg-type]
    store.observe.add_points([raw(start + ROLLUP_KEEP_S + 1200 + 1, 7.0)])
    fresh.maintain(start + ROLLUP_KEEP_S + 1200 + 301)  # a restarted recorder resumes from the store
    assert [r["value"] for r in store.observe.points("dev", 0, ROLLUP_S)] == [7.0]
    store.close()


def test_restarts_in_a_window_come_from_stored_points(tmp_path: Path) -> None:
    from shipyard.core.records import Instance
    from shipyard.engine.observe.alerting import Figures

    store = open_store(tmp_path / "state.db")
    ctx = SimpleNamespace(store=store)
    counts = [(0, 0.0), (1000, 1.0), (2000, 3.0), (3000, 3.0)]  # the counter, one point each
    store.observe.add_points([raw(at, value, "restarts", "instance=blue-0") for at, value in counts])
    inst = Instance(1, "dev", "blue", 0, "r1", "127.0.0.1:8000", "{}", "running", 5, 0.0)
    figures = Figures(ctx, {}, now=3600.0)  # type: ignore[arg-type]
    assert figures._restarts(inst, 3600) == 5  # 5 now, 0 an hour ago
    assert figures._restarts(inst, 1700) == 2  # 5 now, 3 at 2000
    fresh = Instance(2, "dev", "blue", 1, "r1", "127.0.0.1:8001", "{}", "running", 0, 0.0)
    assert figures._restarts(fresh, 3600) == 0  # no point yet: no restart counted
    store.close()
