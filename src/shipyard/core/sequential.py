"""A sequential test on a share of requests: is it beyond its limit, at a stated confidence,
however many times the counts are looked at?

``core.analysis.evaluate_early`` asks it about the new version's 5xx answers (against
``error_rate.max``) and its answers slower than a latency limit (against 1 - q for the
q-quantile: p95 is above 300ms exactly when more than 5 % of requests take longer).

The test is a confidence sequence for a share p, from Robbins' beta-binomial mixture with a
uniform prior. After n requests with x of them "bad",

    M_n(p) = B(1 + x, 1 + n - x) / (p^x (1 - p)^(n - x))

For the true share p, M_n(p) is a nonnegative martingale with mean 1 (it is the mixture of the
likelihood ratios of every share against p), so by Ville's inequality the chance that it ever,
at any n, reaches 1/alpha is at most alpha. The shares with M_n(p) < 1/alpha thus hold the true
one at every n at once, with probability at least 1 - alpha. The verdict is decisive when
every share up to the limit is outside that set: a version whose true share is at its limit or
better gets such a verdict with probability at most alpha, whatever the number and the times of
the looks (no alpha spent per look). Pure arithmetic, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

BISECTIONS = 60  # halvings of the bound's search interval: far below a request's worth


def log_evidence(requests: int, bad: int, share: float) -> float:
    """log M_n(share): how strongly ``bad`` of ``requests`` speak against ``share``."""
    good = requests - bad
    if (bad and share <= 0) or (good and share >= 1):
        return math.inf
    log_beta = math.lgamma(1 + bad) + math.lgamma(1 + good) - math.lgamma(2 + requests)
    fits = (bad * math.log(share) if bad else 0.0) + (good * math.log1p(-share) if good else 0.0)
    return log_beta - fits


def decisive(requests: int, bad: int, limit: float, alpha: float) -> bool:
    """True when the share is above ``limit`` at confidence 1 - ``alpha``, valid at every look.

    The observed share must be above the limit, and the limit (hence every share below it,
    since log M_n falls towards the observed share) outside the confidence sequence.
    """
    if requests <= 0 or bad <= limit * requests:
        return False
    return log_evidence(requests, bad, limit) >= math.log(1 / alpha)


def lower_bound(requests: int, bad: int, alpha: float) -> float:
    """The lowest share still in the confidence sequence (0 when no request was bad)."""
    if bad <= 0:
        return 0.0
    threshold = math.log(1 / alpha)
    lo, hi = 0.0, bad / requests  # log M_n is infinite at 0 and at most 0 at bad / requests
    for _ in range(BISECTIONS):
        mid = (lo + hi) / 2
        if log_evidence(requests, bad, mid) >= threshold:
            lo = mid
        else:
            hi = mid
    return hi


@dataclass(frozen=True)
class Evidence:
    """One measure's sequential test at one look: the counts, the limit and the bound."""

    measure: str  # "error_rate", "latency_p95"...
    requests: int
    bad: int  # 5xx answers, or answers slower than the latency limit
    limit: float  # highest share the limit allows
    lower_bound: float  # the share is at least this, at ``confidence``
    confidence: float  # 1 - alpha of this measure's test
    decisive: bool
    latency_ms: float | None = None  # the latency limit, for latency measures

    def describe(self) -> str:
        bound, limit = f"{self.lower_bound * 100:.2f}%", f"{self.limit * 100:g}%"
        seen = f"{self.bad} of {self.requests} requests"
        if self.latency_ms is None:
            return f"error rate at least {bound} ({seen}; max {limit})"
        name = self.measure.replace("latency_", "")
        return (
            f"{name} above {self.latency_ms:g}ms: at least {bound} of requests slower "
            f"({seen}; at most {limit} may be)"
        )

    def to_json(self) -> dict[str, float | int | str | bool | None]:
        return {
            "measure": self.measure,
            "requests": self.requests,
            "bad": self.bad,
            "limit": self.limit,
            "lower_bound": round(self.lower_bound, 6),
            "confidence": self.confidence,
            "decisive": self.decisive,
            "latency_ms": self.latency_ms,
        }


def judge_share(
    measure: str, requests: int, bad: int, limit: float, alpha: float, latency_ms: float | None = None
) -> Evidence:
    """The sequential test of one measure at one look."""
    return Evidence(
        measure=measure,
        requests=requests,
        bad=bad,
        limit=limit,
        lower_bound=lower_bound(requests, bad, alpha),
        confidence=1 - alpha,
        decisive=decisive(requests, bad, limit, alpha),
        latency_ms=latency_ms,
    )
