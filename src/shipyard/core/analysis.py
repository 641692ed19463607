"""Analysis of a new version's traffic: one check ends passed, failed or inconclusive.

Pure decisions over ``WindowStats``; the engine gathers the figures and acts on
the result (advance, hold, roll back). ``evaluate`` judges a finished check;
``evaluate_early`` looks at a check still running and fails it as soon as
``core.sequential`` finds the new version beyond a limit at the stated confidence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, Protocol

from shipyard.core.sequential import Evidence, decisive, judge_share
from shipyard.core.traffic import WindowStats

Result = Literal["passed", "failed", "inconclusive"]
QUANTILES = (("latency_p50", 0.50), ("latency_p95", 0.95), ("latency_p99", 0.99))


class Limit(Protocol):
    @property
    def max(self) -> float:
        """A share (error rate) or seconds (latency)."""


class Limits(Protocol):
    """The limits a check is judged against: the manifest's ``analysis`` (``manifest/strategy.py``)."""

    @property
    def error_rate(self) -> Limit | None: ...

    @property
    def latency_p50(self) -> Limit | None: ...

    @property
    def latency_p95(self) -> Limit | None: ...

    @property
    def latency_p99(self) -> Limit | None: ...

    @property
    def min_requests(self) -> int: ...

    @property
    def no_data(self) -> str:
        """``pause``, ``fail`` or ``pass``: what an inconclusive check counts as."""

    @property
    def failure_limit(self) -> int: ...

    @property
    def early_failure_confidence(self) -> float | None: ...


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
    early: bool = False  # failed before the check's end by the sequential test
    evidence: tuple[Evidence, ...] = ()  # that test's figures, per measure

    def to_json(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "requests": self.requests,
            "summary": self.summary,
            "measures": [asdict(m) for m in self.measures],
            "early": self.early,
            "evidence": [e.to_json() for e in self.evidence],
        }


def evaluate(stats: WindowStats, analysis: Limits) -> Check:
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
    for (name, _q), ms in zip(QUANTILES, (stats.p50_ms, stats.p95_ms, stats.p99_ms), strict=True):
        limit = getattr(analysis, name)
        if limit is None:
            continue
        seconds = None if ms is None else ms / 1000
        measures.append(Measure(name, seconds, limit.max, seconds is not None and seconds <= limit.max))
    failed = [m for m in measures if not m.ok]
    shown = failed or measures
    summary = f"{stats.requests} requests; " + ", ".join(m.describe() for m in shown)
    return Check("failed" if failed else "passed", stats.requests, tuple(measures), summary)


def apply_no_data(check: Check, analysis: Limits) -> Check:
    """An inconclusive check under ``no_data: fail`` counts as failed, under ``pass`` as passed;
    under ``pause`` it stays inconclusive."""
    if check.result != "inconclusive" or analysis.no_data == "pause":
        return check
    return replace(check, result="failed" if analysis.no_data == "fail" else "passed")


def evaluate_early(stats: WindowStats, sent: int, analysis: Limits) -> Check | None:
    """A failed check if a limit is already decisively exceeded, else None (the check goes on).

    ``stats`` are the logged requests of the check so far, ``sent`` how many HAProxy has sent
    to the new version since the check began (0 if unknown). Requests sent but not logged yet
    are still in flight and count as good: they can only weaken the evidence, so a fast error
    cannot look more frequent than it is. The confidence is shared by the measures (each tests
    at 1 - (1 - confidence) / measures), so that a whole check fails early by chance at most
    1 - confidence of the time.
    """
    confidence = analysis.early_failure_confidence
    if confidence is None:
        return None
    requests = max(stats.requests, sent)
    shares: list[tuple[str, int, float, float | None]] = []
    if analysis.error_rate is not None:
        shares.append(("error_rate", stats.errors, analysis.error_rate.max, None))
    for name, q in QUANTILES:
        limit = getattr(analysis, name)
        if limit is not None:
            ms = limit.max * 1000
            shares.append((name, stats.slower_than(ms), 1 - q, ms))
    if not shares:
        return None
    alpha = (1 - confidence) / len(shares)
    if not any(decisive(requests, bad, lim, alpha) for _name, bad, lim, _ms in shares):
        return None  # the usual case, without the bounds' search
    tests = tuple(judge_share(name, requests, bad, lim, alpha, ms) for name, bad, lim, ms in shares)
    beyond = [t for t in tests if t.decisive]
    summary = f"early verdict at {confidence * 100:g}% confidence: {requests} requests; " + ", ".join(
        t.describe() for t in beyond
    )
    return Check("failed", requests, (), summary, early=True, evidence=tests)
