"""Shows a deployment's steps live in the terminal, as the control plane records them.

Used by ``shipyard deploy`` and ``shipyard rollback``.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.markup import escape

from shipyard.cli.client import Client

MARKS = {"running": "[cyan]…[/]", "ok": "[green]✓[/]", "failed": "[red]✗[/]", "info": " "}


def follow(client: Client, dep_id: int, console: Console, poll: float = 0.1) -> dict[str, Any]:
    """Print events until the deployment ends; return its final events payload."""
    after = 0
    while True:
        data = client.get(f"/api/deployments/{dep_id}/events", after=after)
        for ev in data["events"]:
            after = ev["id"]
            stamp = time.strftime("%H:%M:%S", time.localtime(ev["at"]))
            mark = MARKS.get(ev["status"], " ")
            label = f"{ev['step']:<8}" if ev["status"] != "info" else "  "
            message = escape(ev["message"]) if ev["status"] != "running" else "started"
            console.print(f"{stamp} {mark} {label} {message}", highlight=False, markup=True)
        if data["status"] != "running":
            return dict(data)
        time.sleep(poll)
