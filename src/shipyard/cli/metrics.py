"""``shipyard metrics ENV [--since 1h]``: the stored figures of an environment, summarized.

A thin edge over ``/api/metrics/<env>``: for each series (a metric of one release or one
instance) its last value and its minimum, mean and maximum over the span, from the raw
points (one per rule evaluation) within a day, from the 5-minute roll-ups beyond.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from shipyard.cli.session import client
from shipyard.errors import ConflictError

console = Console(soft_wrap=True)


def span(seconds: float) -> str:
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def show(value: float, unit: str) -> str:
    if unit == "ratio":
        return f"{value * 100:.2f}%"
    if unit == "s":
        return f"{value * 1000:.0f}ms"
    if unit == "cores":
        return f"{value * 100:.1f}% cpu"
    if unit == "bytes":
        return f"{value / 2**20:.1f}MiB"
    if unit == "req/s":
        return f"{value:.1f}/s"
    return f"{value:g}"


def metrics(
    env: Annotated[str, typer.Argument(help="Environment.")],
    since: Annotated[str, typer.Option(help="How far back, such as 15m, 1h or 7d (at most 30d).")] = "1h",
) -> None:
    """An environment's stored metrics: per release and per instance, last, min, mean and max."""
    from pydantic import TypeAdapter, ValidationError

    from shipyard.manifest.models import Duration

    try:
        seconds = TypeAdapter(Duration).validate_python(since)
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise ConflictError(problem, "pass --since with a unit, such as 1h or 7d") from None
    from shipyard.schemas.observe import Metrics

    data = Metrics.model_validate(client().get(f"/api/metrics/{env}", since=seconds))
    step = span(data.resolution)
    console.print(f"{env}: last {span(data.since)}, one point every {step}", highlight=False)
    if not data.series:
        console.print("no figures stored yet (they are recorded at every alert rule evaluation)")
    for s in data.series:
        unit = s.unit
        console.print(
            f"  {escape(s.series):<18} {s.metric:<13} last {show(s.last, unit):>10}   "
            f"min {show(s.min, unit)}  mean {show(s.mean, unit)}  max {show(s.max, unit)}"
            f"  ({s.points} points)",
            highlight=False,
        )
