"""Analysis of a new version's traffic: one check ends passed, failed or inconclusive.

Pure decisions over ``WindowStats``; the engine gathers the figures and acts on
the result (advance, hold, roll back).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from shipyard.core.traffic import WindowStats
from shipyard.manifest.models import Analysis

Result = Literal["passed", "failed", "inconclusive"]


@dataclass(frozen=True)
class Measure:
    name: str  # "error_rate", "latency_p95"...
    value: float | None  # share, or seconds
    limit: float
    ok: bool

    def describe(self) -> str:
        if self.name == "error_rate":
            shown = "n/a" if self.value is None else f"{self.value * 100:.2f}%"
            return f"error rate {shown} (max {self.limit * 100:g}%)"
        shown = "n/a" if self.value is None else f"{self.value * 1000:.0f}ms"
        return f"{self.name.replace('latency_', '')} {shown} (max {self.limit * 1000:g}ms)"


@dataclass(frozen=True)
class Check:
    result: Result
    requests: int
    measures: tuple[Measure, ...]
    summary: str

    def to_json(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "requests": self.requests,
            "summary": self.summary,
            "measures": [asdict(m) for m in self.measures],
        }


def evaluate(stats: WindowStats, analysis: Analysis) -> Check:
    """Judge one check's window of the new version against the manifest's limits."""
    if stats.requests < analysis.min_requests:
        return Check(
            "inconclusive",
            stats.requests,
            (),
            f"{stats.requests} request(s), fewer than min_requests {analysis.min_requests}: no data",
        )
    measures: list[Measure] = []
    if analysis.error_rate is not None:
        rate = stats.error_rate or 0.0
        measures.append(Measure("error_rate", rate, analysis.error_rate.max, rate <= analysis.error_rate.max))
    for name, ms in (
        ("latency_p50", stats.p50_ms),
        ("latency_p95", stats.p95_ms),
        ("latency_p99", stats.p99_ms),
    ):
        limit = getattr(analysis, name)
        if limit is None:
            continue
        seconds = None if ms is None else ms / 1000
        measures.append(Measure(name, seconds, limit.max, seconds is not None and seconds <= limit.max))
    failed = [m for m in measures if not m.ok]
    shown = failed or measures
    summary = f"{stats.requests} requests; " + ", ".join(m.describe() for m in shown)
    return Check("failed" if failed else "passed", stats.requests, tuple(measures), summary)


def apply_no_data(check: Check, analysis: Analysis) -> Check:
    """An inconclusive check under ``no_data: fail`` counts as failed, under ``pass`` as passed;
    under ``pause`` it stays inconclusive."""
    if check.result != "inconclusive" or analysis.no_data == "pause":
        return check
    return replace(check, result="failed" if analysis.no_data == "fail" else "passed")
