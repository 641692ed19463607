"""Shows a deployment's steps, or a job's progress, live in the terminal as the control plane
records them.

``follow`` is used by ``shipyard deploy`` and ``shipyard rollback``; ``follow_job`` by every
command that starts a job (``backup create|verify|restore``, ``drill``, ``migrate up|down``) and
by ``shipyard jobs show -f``. A job is followed by polling: no request waits for it, so it may
take hours, and Ctrl-C detaches (the job runs on) with the command to follow it again.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from shipyard.errors import ShipyardError

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


def follow_job(client: Api, job_id: int, console: Console, max_poll: float = 1.0) -> dict[str, Any]:
    """Print job ``job_id``'s progress lines until it ends; return its result, or raise its error.

    Ctrl-C stops following, not the job: it prints how to follow again and exits with 130."""
    try:
        return _poll(client, job_id, console, max_poll)
    except KeyboardInterrupt:
        console.print(
            f"detached from job {job_id}: it keeps running on the control plane; "
            f"follow it again with `shipyard jobs show {job_id} -f`",
            highlight=False,
        )
        import typer

        raise typer.Exit(130) from None


def _poll(client: Api, job_id: int, console: Console, max_poll: float) -> dict[str, Any]:
    from shipyard.schemas.data import JobShown  # pydantic: loaded only by a command that follows a job

    after, poll = 0, 0.05
    while True:
        data = JobShown.model_validate(client.get(f"/api/jobs/{job_id}", after=after))
        for line in data.progress:
            after = line.id
            stamp = time.strftime("%H:%M:%S", time.localtime(line.at))
            console.print(f"{stamp} {escape(line.message)}", highlight=False)
        job = data.job
        if job.status == "succeeded":
            return dict(job.result or {})
        if job.status in ("failed", "interrupted"):
            raise ShipyardError(job.error or f"job {job_id} {job.status}", job.hint or "")
        if not data.progress:
            poll = min(max_poll, poll * 2)  # quick answers for quick jobs, one request a second for long ones
        time.sleep(poll)
