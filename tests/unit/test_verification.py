"""Post-deploy verification, pure: wrk's figures read and judged, and the promotion rule."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from shipyard.core.pipeline.verification import (
    LoadFigures,
    Verified,
    check_verified,
    judge_load,
    read_wrk,
)
from shipyard.errors import ConflictError


@dataclass
class Spec:
    rate: float
    p95: float


def test_read_wrk_takes_the_hook_line() -> None:
    line = 'SHIPYARD {"requests": 500, "errors": 0, "seconds": 5.0, "p95_ms": 3.5}'
    out = f"Running 5s test\n  2 threads\n{line}\n"
    figures = read_wrk(out)
    assert figures == LoadFigures(500, 0, 5.0, 3.5) and figures.rate == 100
    with pytest.raises(ValueError, match="no figures"):
        read_wrk("Running 5s test\n")


@pytest.mark.parametrize(
    ("figures", "spec", "failure"),
    [
        (LoadFigures(500, 0, 5.0, 3.5), Spec(50, 0.3), None),
        (LoadFigures(500, 0, 5.0, 350), Spec(50, 0.3), "p95 350.0ms is above 300ms"),
        (LoadFigures(100, 0, 5.0, 3.5), Spec(50, 0.3), "20 requests/s is below the rate 50/s"),
        (LoadFigures(500, 7, 5.0, 3.5), Spec(0, 0.3), "7 of 500 requests failed"),
        (LoadFigures(0, 0, 5.0, 0), Spec(0, 0.3), "0 of 0 requests failed"),
    ],
)
def test_judge_load(figures: LoadFigures, spec: Spec, failure: str | None) -> None:
    assert judge_load(figures, spec) == failure


def test_promotion_needs_a_passed_verification() -> None:
    check_verified("r3", "dev", Verified(7, "ok", "smoke / 200"))
    with pytest.raises(
        ConflictError, match=r"did not pass dev's post-deploy verification \(deployment 7: p95"
    ):
        check_verified("r3", "dev", Verified(7, "failed", "p95 900ms is above 300ms"))
    with pytest.raises(ConflictError, match="deployment 7: it did not run"):
        check_verified("r3", "dev", Verified(7, None, ""))
    with pytest.raises(ConflictError, match="has not been deployed to dev"):
        check_verified("r3", "dev", None)
