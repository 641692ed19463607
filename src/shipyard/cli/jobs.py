"""``shipyard jobs list|show``: the control plane's long operations, and how commands start them.

A backup, a verification, a restore, a drill and ``migrate up|down`` run as jobs: ``run_job``
starts one and follows it (progress lines on stderr, so stdout keeps the command's answer);
Ctrl-C detaches, and ``shipyard jobs show ID -f`` follows it again. A thin edge over
``/api/jobs``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from shipyard.cli.follow import follow_job
from shipyard.cli.session import client
from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    from shipyard.schemas.data import Job

jobs_app = typer.Typer(no_args_is_help=True, help="Follow the control plane's long operations.")
console = Console(soft_wrap=True)
progress = Console(stderr=True, soft_wrap=True)
COLOURS = {"queued": "cyan", "running": "cyan", "succeeded": "green", "failed": "red", "interrupted": "red"}


def run_job(path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """POST ``path``, which answers with a job, and follow the job to its result."""
    from shipyard.schemas.data import JobStarted

    api = client()
    started = JobStarted.model_validate(api.post(path, body))
    return follow_job(api, started.job.id, progress)


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _line(job: Job) -> str:
    colour = COLOURS.get(job.status, "white")
    took = (job.finished_at or time.time()) - (job.started_at or job.created_at)
    return (
        f"{job.id:>5} [{colour}]{job.status:<11}[/] {job.kind:<15} {job.env:<12} "
        f"{escape(job.requested_by):<10} {_when(job.created_at)} {took:8.1f}s"
    )


@jobs_app.command("list")
def list_(
    env: Annotated[str | None, typer.Argument(help="Environment; default: every one you may read.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
) -> None:
    """The newest jobs: backups, verifications, restores, drills, migrations by hand."""
    from shipyard.schemas.data import JobList

    jobs = JobList.model_validate(client().get("/api/jobs", env=env, limit=limit)).jobs
    if not jobs:
        console.print("no jobs yet")
    for job in jobs:
        console.print(_line(job), highlight=False)


@jobs_app.command("show")
def show(
    job_id: Annotated[int, typer.Argument(help="Job id (printed when it started; `shipyard jobs list`).")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Follow it until it ends.")] = False,
) -> None:
    """A job: what it was asked, its progress lines, and its result or error."""
    from shipyard.schemas.data import JobShown

    api = client()
    shown = JobShown.model_validate(api.get(f"/api/jobs/{job_id}"))
    job = shown.job
    console.print(_line(job), highlight=False)
    console.print(f"args: {escape(str(job.args))}", highlight=False)
    if follow and job.status in ("queued", "running"):
        result = follow_job(api, job.id, console)
        console.print(_line(JobShown.model_validate(api.get(f"/api/jobs/{job_id}")).job), highlight=False)
        console.print(f"result: {escape(str(result))}", highlight=False)
        return
    for line in shown.progress:
        stamp = time.strftime("%H:%M:%S", time.localtime(line.at))
        console.print(f"{stamp} {escape(line.message)}", highlight=False)
    if job.status in ("failed", "interrupted"):
        raise ShipyardError(job.error or f"job {job_id} {job.status}", job.hint or "")
    if job.result is not None:
        console.print(f"result: {escape(str(job.result))}", highlight=False)
