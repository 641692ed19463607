"""Per-request figures from HAProxy log lines: parsing, windows, exact percentiles, rates."""

from __future__ import annotations

from collections import Counter

import pytest

from shipyard.core.traffic import Hit, TrafficBook, parse_log_line, percentile


def test_log_line_is_parsed_with_or_without_a_syslog_header() -> None:
    hit = parse_log_line("<134>Nov 22 10:00:00 haproxy[1]: SY fe_dev green-1 503 17 1763805600.042 SC")
    assert hit == Hit("fe_dev", "green-1", 503, 17, 1763805600.042)
    assert parse_log_line("SY fe_dev blue-0 200 3 1763805600.500 --") == Hit(
        "fe_dev", "blue-0", 200, 3, 1763805600.5
    )


@pytest.mark.parametrize("line", ["", "hello", "SY fe_dev blue-0 abc 3 1.0 --", "SY fe_dev blue-0 200"])
def test_malformed_lines_are_refused(line: str) -> None:
    assert parse_log_line(line) is None


def test_nearest_rank_percentile_of_a_histogram() -> None:
    values = Counter({1: 90, 50: 9, 900: 1})
    assert percentile(values, 100, 0.50) == 1
    assert percentile(values, 100, 0.95) == 50
    assert percentile(values, 100, 0.99) == 50
    assert percentile(values, 100, 1.0) == 900
    assert percentile(Counter(), 0, 0.5) is None


def test_window_counts_only_the_chosen_servers_and_time() -> None:
    book = TrafficBook()
    t0 = 1000.0
    for i in range(100):
        book.add(Hit("fe_dev", "green-0", 500 if i % 10 == 0 else 200, i, t0 + i * 0.01))
        book.add(Hit("fe_dev", "blue-0", 200, 1, t0 + i * 0.01))
    book.add(Hit("fe_dev", "green-0", 500, 5, t0 + 5))  # outside the window
    book.add(Hit("fe_other", "green-0", 500, 5, t0 + 0.5))  # another environment
    stats = book.window("fe_dev", {"green-0"}, t0, t0 + 1)
    assert (stats.requests, stats.errors) == (100, 10)
    assert stats.error_rate == pytest.approx(0.1)
    assert (stats.p50_ms, stats.p95_ms, stats.p99_ms) == (49, 94, 98)
    assert stats.first_error_at == t0
    assert stats.rps == pytest.approx(100)
    both = book.window("fe_dev", {"green-0", "blue-0"}, t0, t0 + 1)
    assert (both.requests, both.errors) == (200, 10)


def test_late_lines_land_in_their_own_bucket() -> None:
    book = TrafficBook()
    book.add(Hit("fe_dev", "green-0", 200, 1, 1002.0))
    book.add(Hit("fe_dev", "green-0", 500, 1900, 1000.1))  # a slow request, logged when done
    assert book.window("fe_dev", {"green-0"}, 1000, 1001).errors == 1
    assert book.window("fe_dev", {"green-0"}, 1001, 1003).errors == 0


def test_old_buckets_are_forgotten() -> None:
    book = TrafficBook(keep_seconds=10)
    book.add(Hit("fe_dev", "green-0", 200, 1, 1000.0))
    book.add(Hit("fe_dev", "green-0", 200, 1, 1100.0))
    assert book.window("fe_dev", {"green-0"}, 0, 2000).requests == 1


def test_rate_uses_the_time_since_traffic_began() -> None:
    book = TrafficBook()
    for i in range(200):
        book.add(Hit("fe_dev", "blue-0", 200, 1, 1000.0 + i * 0.01))  # 100 rps for 2 s
    assert book.rate("fe_dev", now=1002.0) == pytest.approx(100, rel=0.15)
    assert book.rate("fe_dev", now=1030.0) == pytest.approx(200 / 30)
    assert book.rate("fe_other", now=1002.0) == 0
