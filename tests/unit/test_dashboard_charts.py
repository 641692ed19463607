"""The dashboard's pure shaping: the metrics charts (``server/dashboard/charts.py``: per sampling
time, rates added over releases, the worst release's errors and p95, instances counted; windows
checked) and the users form (``users.py``: the API's body, a bad field named)."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.errors import InputError
from shipyard.server.dashboard.charts import CHARTS, series, window_of
from shipyard.server.dashboard.users import user_body

BY_KEY = {c.key: c for c in CHARTS}


def row(metric: str, series_: str, at: float, value: float) -> dict[str, Any]:
    return {"env": "dev", "metric": metric, "series": series_, "at": at, "value": value}


ROWS = [
    row("request_rate", "release=r1", 20.0, 3.0),
    row("request_rate", "release=r2", 20.0, 1.5),
    row("request_rate", "release=r1", 10.0, 2.0),
    row("error_rate", "release=r1", 10.0, 0.01),
    row("error_rate", "release=r2", 10.0, 0.25),
    row("latency_p95", "release=r1", 10.0, 0.120),
    row("memory_bytes", "instance=blue-0", 10.0, 2.0 * 2**20),
    row("memory_bytes", "instance=blue-1", 10.0, 3.0 * 2**20),
    row("restarts", "instance=blue-0", 10.0, 4.0),
    row("restarts", "instance=blue-1", 10.0, 0.0),
    row("restarts", "instance=blue-0", 20.0, 4.0),
]


def test_requests_add_up_over_releases_in_time_order() -> None:
    assert series(ROWS, BY_KEY["requests"]) == ([10.0, 20.0], [2.0, 4.5])


def test_errors_and_p95_are_the_worst_releases_in_percent_and_ms() -> None:
    assert series(ROWS, BY_KEY["errors"]) == ([10.0], [25.0])
    assert series(ROWS, BY_KEY["p95"]) == ([10.0], [120.0])


def test_memory_adds_instances_in_mib_and_instances_are_counted_not_their_restarts() -> None:
    assert series(ROWS, BY_KEY["memory"]) == ([10.0], [5.0])
    assert series(ROWS, BY_KEY["instances"]) == ([10.0, 20.0], [2, 1])


def test_a_metric_without_points_is_an_empty_chart() -> None:
    assert series(ROWS, BY_KEY["cpu"]) == ([], [])


@pytest.mark.parametrize("asked", ["15m", "1h", "6h", "24h"])
def test_the_offered_windows(asked: str) -> None:
    assert window_of(asked) == asked


def test_another_window_is_refused_with_the_choices() -> None:
    with pytest.raises(InputError) as err:
        window_of("7d")
    assert "15m, 1h, 6h, 24h" in str(err.value.hint)


def test_a_users_form_is_the_apis_body_and_a_bad_one_names_its_field() -> None:
    made = user_body({"name": "erin", "role": "deployer", "env": ""})
    assert (made.name, made.role, made.env) == ("erin", "deployer", "*")  # no environment: every one
    with pytest.raises(InputError) as err:
        user_body({"name": "x" * 500, "role": "viewer", "env": "dev"})
    assert str(err.value).startswith("name:")
