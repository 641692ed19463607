"""Shows a deployment's steps live in the terminal, as the control plane records them.

Used by ``shipyard deploy`` and ``shipyard rollback``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.markup import escape

if TYPE_CHECKING:
    from rich.console import Console

    from shipyard.cli.session import Api

MARKS = {"running": "[cyan]…[/]", "ok": "[green]✓[/]", "failed": "[red]✗[/]", "info": " "}


def follow(client: Api, dep_id: int, console: Console, poll: float = 0.1) -> dict[str, Any]:
    """Print events (and a rollout's live figures) until the deployment ends; return its payload."""
    after = 0
    sample_after = 0
    next_samples = 0.0
    while True:
        data = client.get(f"/api/deployments/{dep_id}/events", after=after)
        for ev in data["events"]:
            after = ev["id"]
            stamp = time.strftime("%H:%M:%S", time.localtime(ev["at"]))
            mark = MARKS.get(ev["status"], " ")
            label = f"{ev['step']:<8}" if ev["status"] != "info" else "  "
            message = escape(ev["message"]) if ev["status"] != "running" else "started"
            console.print(f"{stamp} {mark} {label} {message}", highlight=False, markup=True)
        if data["status"] not in ("running", "waiting_approval"):
            return dict(data)  # an instant rollback ends here: one request after the POST
        if time.monotonic() >= next_samples:
            sample_after = _print_samples(client, dep_id, console, sample_after)
            next_samples = time.monotonic() + 1.0
        time.sleep(poll)


def _print_samples(client: Api, dep_id: int, console: Console, after: int) -> int:
    """Print the newest figures of both versions, if new ones were recorded."""
    rows = client.get(f"/api/deployments/{dep_id}/samples", after=after)["samples"]
    if not rows:
        return after
    latest = {row["role"]: row for row in rows}
    if "canary" in latest and "stable" in latest:
        from shipyard.cli.rollout import sample_line  # Typer and Rich tables: only for a rollout

        stamp = time.strftime("%H:%M:%S", time.localtime(latest["canary"]["at"]))
        console.print(f"{stamp}   {sample_line(latest['canary'], latest['stable'])}", highlight=False)
    return int(rows[-1]["id"])
