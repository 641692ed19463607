"""``shipyard alerts list|silence|expire``: the alerts the rules raised, silences, deliveries.

A thin edge over ``/api/alerts``. ``list`` shows pending, firing and recently resolved
alerts, the silences and the last deliveries, failed ones in red: a receiver that is down
is seen here. ``silence`` takes label matchers (``env=prod alertname=CpuHigh``) and a
duration; every silence has an end time.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from shipyard.cli.session import client
from shipyard.errors import ConflictError

if TYPE_CHECKING:
    from shipyard.schemas.observe import Alert

alerts_app = typer.Typer(no_args_is_help=True, help="Alerts raised by the rules, silences and notifications.")
console = Console(soft_wrap=True)
STATE_STYLE = {"firing": "red", "pending": "yellow", "resolved": "green"}


def _ago(at: float | None) -> str:
    if at is None:
        return "-"
    seconds = time.time() - at
    if seconds < 0:
        return f"in {_span(-seconds)}"
    return f"{_span(seconds)} ago"


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _alert_line(a: Alert) -> str:
    labels = a.labels
    where = " ".join(labels[k] for k in ("env", "release", "instance") if labels.get(k))
    state = a.state
    since = a.resolved_at if state == "resolved" else (a.fired_at or a.active_since)
    return (
        f"[{STATE_STYLE.get(state, 'white')}]{state:<8}[/] {labels.get('severity', ''):<8} "
        f"{escape(a.rule)}  {escape(where)}  {a.annotations.get('value', '')}  "
        f"since {_ago(since)}: {escape(a.annotations.get('summary', ''))}"
    )


@alerts_app.command("list")
def list_alerts(
    limit: Annotated[int, typer.Option(help="How many recent deliveries to show.")] = 10,
) -> None:
    """Pending, firing and resolved alerts; silences; the last notifications and their outcome."""
    from shipyard.schemas.observe import Alerts

    data = Alerts.model_validate(client().get("/api/alerts", limit=limit))
    last = f"last evaluation {_ago(data.last_run)}" if data.last_run else "not evaluated yet"
    console.print(f"rules run every {data.interval:g}s, {last}", highlight=False)
    for a in data.alerts:
        console.print(_alert_line(a), highlight=False)
    if not data.alerts:
        console.print("no alert is pending or firing")
    for quiet in data.silences:
        ends = ("ends " if quiet.active else "ended ") + _ago(quiet.ends_at)
        matchers = " ".join(f"{k}={v}" for k, v in quiet.matchers.items())
        console.print(
            f"silence {quiet.id}: {escape(matchers)} {ends} (by {quiet.created_by}) {escape(quiet.comment)}",
            highlight=False,
        )
    if data.deliveries:
        console.print("recent notifications:")
    for d in data.deliveries:
        outcome = "[green]delivered[/]" if d.status == "delivered" else "[red]FAILED[/]"
        tries = f"{d.attempts} attempt{'s' if d.attempts != 1 else ''}"
        console.print(
            f"  {_ago(d.at)}  {d.receiver} ({d.receiver_kind}) {outcome} after {tries}: "
            f"{escape(d.title)}: {escape(d.detail)}",
            highlight=False,
        )
    for line in data.errors:
        console.print(f"[yellow]alerting:[/] {escape(line)}")


@alerts_app.command()
def silence(
    matchers: Annotated[list[str], typer.Argument(help="Labels to silence, as KEY=VALUE (env=prod ...).")],
    for_: Annotated[str, typer.Option("--for", help="How long, such as 30m or 2h (at most 90d).")] = "1h",
    comment: Annotated[str, typer.Option(help="Why (shown in `alerts list`).")] = "",
) -> None:
    """Silence the alerts whose labels match, until an end time."""
    parsed: dict[str, str] = {}
    for item in matchers:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise ConflictError(f"{item!r} is not a matcher", "write KEY=VALUE, such as env=prod")
        parsed[key] = value
    from shipyard.schemas.observe import Silenced

    body = {"matchers": parsed, "duration": for_, "comment": comment}
    data = Silenced.model_validate(client().post("/api/alerts/silences", body))
    ends = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(data.ends_at))
    console.print(f"silence {data.id} until {ends}", highlight=False)


@alerts_app.command()
def expire(silence_id: Annotated[int, typer.Argument(help="Silence id (see `alerts list`).")]) -> None:
    """End a silence now."""
    client().post(f"/api/alerts/silences/{silence_id}/expire")
    console.print(f"silence {silence_id} ended")
