"""CPU figures from cumulative CPU time when two loops read the same instance a moment apart."""

from __future__ import annotations

import pytest

from shipyard.drivers.runtime.usage import MIN_WINDOW, CpuRate


def test_a_reading_right_after_another_gets_its_figure_not_a_window_of_milliseconds() -> None:
    rate = CpuRate()
    assert rate.rate("i1", 10.0, 100.0) is None  # the first reading has nothing to compare with
    assert rate.rate("i1", 12.5, 105.0) == pytest.approx(0.5)  # 2.5 s of CPU over 5 s
    # the autoscaler reads 10 ms after the alerting loop: no CPU tick in between would read 0
    assert rate.rate("i1", 12.5, 105.01) == pytest.approx(0.5)
    assert rate.rate("i1", 17.5, 110.0) == pytest.approx(1.0)  # measured from 105.0, not 105.01
    assert rate.rate("i2", 1.0, 110.0) is None  # per instance


def test_the_second_reading_is_measured_even_when_close_and_forgotten_instances_start_over() -> None:
    rate = CpuRate()
    rate.rate("i1", 1.0, 50.0)
    assert rate.rate("i1", 1.1, 50.0 + MIN_WINDOW / 2) == pytest.approx(0.2)  # no figure yet to keep
    rate.keep_only({"i2"})
    assert rate.rate("i1", 5.0, 60.0) is None
