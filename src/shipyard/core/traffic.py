"""Per-request traffic facts from HAProxy's log lines, kept per server in short time buckets.

HAProxy sends one line per request (``LOG_FORMAT`` below) to the control plane,
which feeds them to a ``TrafficBook``. The book keeps, for each server
and each quarter second, the request count, the 5xx count and an exact
histogram of the latencies in milliseconds (HAProxy's resolution), so the
figures of any window (request rate, error rate, p50/p95/p99) are exact, not
estimated. Pure data: the caller passes the clock.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import dataclass, field

# %f frontend (one per environment), %s server, %ST status, %Ta active time (ms),
# %Ts.%ms accept date, %ts termination state; %HM method and %HPO path (no query string,
# which may carry secrets) for the central log store, after the fields parsed here.
LOG_FORMAT = "SY %f %s %ST %Ta %Ts.%ms %ts %HM %HPO"
BUCKETS_PER_SECOND = 4
KEEP_SECONDS = 900


@dataclass(frozen=True)
class Hit:
    frontend: str  # fe_<env>
    server: str
    status: int
    active_ms: int
    at: float  # accept time, epoch seconds


def parse_log_line(line: str) -> Hit | None:
    """One HAProxy log line in ``LOG_FORMAT`` (any syslog header before it), or None."""
    start = line.find("SY ")
    if start < 0:
        return None
    parts = line[start:].split()
    if len(parts) < 6:
        return None
    try:
        return Hit(parts[1], parts[2], int(parts[3]), int(parts[4]), float(parts[5]))
    except ValueError:
        return None


@dataclass(frozen=True)
class WindowStats:
    """What one server group answered in a window."""

    requests: int
    errors: int
    seconds: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    first_error_at: float | None
    latencies: Counter[int] = field(default_factory=Counter, repr=False, compare=False)  # ms -> count

    def slower_than(self, ms: float) -> int:
        """How many of the window's requests took longer than ``ms`` milliseconds."""
        return sum(count for value, count in self.latencies.items() if value > ms)

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, float | int | None]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "rps": round(self.rps, 1),
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
        }


@dataclass
class _Bucket:
    index: int
    requests: int = 0
    errors: int = 0
    first_error_at: float | None = None
    latencies: Counter[int] = field(default_factory=Counter)


def percentile(histogram: Counter[int], total: int, q: float) -> float | None:
    """The nearest-rank ``q`` percentile (0..1) of a histogram of values."""
    if total <= 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return float(value)
    return float(max(histogram))


class TrafficBook:
    """Recent traffic per (frontend, server). Thread-safe: a receiver feeds it, the engine reads."""

    def __init__(self, keep_seconds: int = KEEP_SECONDS) -> None:
        self._keep = keep_seconds * BUCKETS_PER_SECOND
        self._series: dict[tuple[str, str], dict[int, _Bucket]] = {}
        self._lock = threading.Lock()
        self.received = 0

    def add(self, hit: Hit) -> None:
        index = int(hit.at * BUCKETS_PER_SECOND)
        with self._lock:
            self.received += 1
            series = self._series.setdefault((hit.frontend, hit.server), {})
            bucket = series.get(index)
            if bucket is None:
                bucket = series[index] = _Bucket(index)
                for old in [i for i in series if i < index - self._keep]:
                    del series[old]
            bucket.requests += 1
            bucket.latencies[max(0, hit.active_ms)] += 1
            if hit.status >= 500:
                bucket.errors += 1
                if bucket.first_error_at is None or hit.at < bucket.first_error_at:
                    bucket.first_error_at = hit.at

    def window(self, frontend: str, servers: set[str], since: float, until: float) -> WindowStats:
        """Figures of ``servers`` behind ``frontend`` for requests accepted in [since, until)."""
        lo = math.floor(since * BUCKETS_PER_SECOND)
        hi = math.floor(until * BUCKETS_PER_SECOND)
        requests = errors = 0
        first_error: float | None = None
        histogram: Counter[int] = Counter()
        with self._lock:
            for (fe, server), series in self._series.items():
                if fe != frontend or server not in servers:
                    continue
                for bucket in series.values():
                    if lo <= bucket.index < hi:
                        requests += bucket.requests
                        errors += bucket.errors
                        histogram.update(bucket.latencies)
                        if bucket.first_error_at is not None and (
                            first_error is None or bucket.first_error_at < first_error
                        ):
                            first_error = bucket.first_error_at
        return WindowStats(
            requests=requests,
            errors=errors,
            seconds=max(0.0, (hi - lo) / BUCKETS_PER_SECOND),
            p50_ms=percentile(histogram, requests, 0.50),
            p95_ms=percentile(histogram, requests, 0.95),
            p99_ms=percentile(histogram, requests, 0.99),
            first_error_at=first_error,
            latencies=histogram,
        )

    def rate(self, frontend: str, now: float, seconds: float = 30.0) -> float:
        """Requests per second that reached ``frontend`` over the last ``seconds``.

        When traffic began less than ``seconds`` ago, the rate is over the time since it began.
        """
        lo = math.floor((now - seconds) * BUCKETS_PER_SECOND)
        total = 0
        first: int | None = None
        with self._lock:
            for (fe, _server), series in self._series.items():
                if fe != frontend:
                    continue
                for bucket in series.values():
                    if bucket.index >= lo:
                        total += bucket.requests
                        first = bucket.index if first is None else min(first, bucket.index)
        if first is None:
            return 0.0
        span = min(seconds, now - first / BUCKETS_PER_SECOND)
        return total / max(span, 1.0)
