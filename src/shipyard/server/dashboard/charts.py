"""The dashboard's metrics charts: one environment's requests, errors, p95 latency, CPU,
memory and instances over a chosen window (15m, 1h, 6h or 24h; 1h unless asked).

The page reads the points ``GET /api/metrics/<env>`` summarizes (``server/observe.py``
``metric_rows``: the ``read`` permission on the environment) and hands them to
``static/metrics.js`` as one JSON document per chart (uPlot draws them). Per sampling time:
requests are the releases' rates added up, errors and p95 the worst release's, CPU and memory
the instances' added up, instances how many were live (each live instance has a ``restarts``
point at every sample).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shipyard.core.access import Principal
from shipyard.engine.engine import Engine
from shipyard.errors import InputError
from shipyard.server.dashboard.web import Visitor, dashboard_of, signed_in
from shipyard.server.observe import metric_rows

WINDOWS = {"15m": 900.0, "1h": 3600.0, "6h": 21600.0, "24h": 86400.0}
Combine = Callable[[list[float]], float]


@dataclass(frozen=True)
class Chart:
    """One chart: what it shows, its unit, and which metric's points, combined how."""

    key: str
    title: str
    unit: str
    metric: str
    combine: Combine
    scale: float = 1.0


def worst(values: list[float]) -> float:
    return max(values)


CHARTS = (
    Chart("requests", "Requests", "req/s", "request_rate", sum),
    Chart("errors", "Errors (worst release)", "%", "error_rate", worst, 100.0),
    Chart("p95", "Latency p95 (worst release)", "ms", "latency_p95", worst, 1000.0),
    Chart("cpu", "CPU", "cores", "cpu", sum),
    Chart("memory", "Memory", "MiB", "memory_bytes", sum, 1 / 2**20),
    Chart("instances", "Instances", "live", "restarts", len),
)


def series(rows: Iterable[dict[str, Any]], chart: Chart) -> tuple[list[float], list[float]]:
    """``chart``'s times and values: its metric's points combined per sampling time."""
    at: dict[float, list[float]] = {}
    for row in rows:
        if row["metric"] == chart.metric:
            at.setdefault(row["at"], []).append(row["value"])
    times = sorted(at)
    return times, [round(chart.combine(at[t]) * chart.scale, 4) for t in times]


@dataclass(frozen=True)
class ChartsPage:
    env: str
    envs: list[str]  # the environments the visitor may read, to switch to
    window: str
    resolution: int
    charts: list[dict[str, Any]]  # key, title, unit, at, values: what metrics.js draws


def window_of(asked: str) -> str:
    if asked not in WINDOWS:
        raise InputError(
            f"window {asked[:20]!r} is not one the charts show", f"use one of: {', '.join(WINDOWS)}"
        )
    return asked


def charts_page(engine: Engine, who: Principal, env: str, window: str) -> ChartsPage:
    _span, resolution, rows = metric_rows(engine, who, env, WINDOWS[window_of(window)])
    drawn = []
    for chart in CHARTS:
        times, values = series(rows, chart)
        drawn.append(
            {"key": chart.key, "title": chart.title, "unit": chart.unit, "at": times, "values": values}
        )
    envs = who.readable_envs(engine.access.envs())
    return ChartsPage(env, envs, window, resolution, drawn)


@signed_in
async def metrics(request: Request, visitor: Visitor) -> Response:
    dash = dashboard_of(request)
    env, window = request.path_params["env"], request.query_params.get("window", "1h")
    page = await run_in_threadpool(charts_page, dash.engine, visitor.who, env, window)
    return dash.render(request, "metrics.html", visitor, page=page, windows=list(WINDOWS))
