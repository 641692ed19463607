"""Stored metrics: the points, their downsampling and retention, and summaries for the CLI.

Pure. The alerting loop records one *raw* point per series at every evaluation (every
``alerts.interval``, 10 s by default); ``rollup`` averages the raw points of each complete
``ROLLUP_S`` (5 min) bucket into one point; raw points are kept ``RAW_KEEP_S`` (a day) and
rolled-up ones ``ROLLUP_KEEP_S`` (30 days). A series is one metric of one release
(``release=r3``) or one instance (``instance=blue-0``) of an environment.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

RAW = 0  # the resolution column of raw points
ROLLUP_S = 300
RAW_KEEP_S = 86400.0
ROLLUP_KEEP_S = 30 * 86400.0

# what each recorded metric is, for the CLI and GET /metrics
UNITS = {
    "request_rate": "req/s",
    "error_rate": "ratio",
    "latency_p50": "s",
    "latency_p95": "s",
    "latency_p99": "s",
    "cpu": "cores",
    "memory_bytes": "bytes",
    "restarts": "count",
}


@dataclass(frozen=True)
class Point:
    env: str
    metric: str
    series: str  # release=r3 | instance=blue-0
    at: float
    value: float

    def row(self, resolution: int = RAW, samples: int = 1) -> dict[str, Any]:
        return {
            "env": self.env,
            "metric": self.metric,
            "series": self.series,
            "resolution": resolution,
            "at": self.at,
            "value": self.value,
            "samples": samples,
        }


def bucket_of(at: float, size: int = ROLLUP_S) -> float:
    return float(math.floor(at / size) * size)


def rollup(rows: Iterable[dict[str, Any]], size: int = ROLLUP_S) -> list[dict[str, Any]]:
    """Average raw rows per (env, metric, series, bucket); each result row keeps its sample count."""
    sums: dict[tuple[str, str, str, float], list[float]] = {}
    for row in rows:
        key = (row["env"], row["metric"], row["series"], bucket_of(row["at"], size))
        acc = sums.setdefault(key, [0.0, 0.0])
        acc[0] += row["value"] * row["samples"]
        acc[1] += row["samples"]
    return [
        {
            "env": env,
            "metric": metric,
            "series": series,
            "resolution": size,
            "at": at,
            "value": total / count,
            "samples": int(count),
        }
        for (env, metric, series, at), (total, count) in sorted(sums.items())
        if count
    ]


def resolution_for(since_s: float) -> int:
    """Raw points while they are kept, the rolled-up ones beyond."""
    return RAW if since_s <= RAW_KEEP_S else ROLLUP_S


def summarize(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (metric, series): points, first and last time, last, min, mean and max."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["metric"], row["series"]), []).append(row)
    out = []
    for (metric, series), items in sorted(groups.items()):
        items.sort(key=lambda r: r["at"])
        values = [r["value"] for r in items]
        out.append(
            {
                "metric": metric,
                "series": series,
                "unit": UNITS.get(metric, ""),
                "points": len(items),
                "from": items[0]["at"],
                "to": items[-1]["at"],
                "last": values[-1],
                "min": min(values),
                "mean": sum(values) / len(values),
                "max": max(values),
            }
        )
    return out
