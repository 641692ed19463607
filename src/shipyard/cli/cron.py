"""``shipyard cron list|history|run``: the manifest's scheduled jobs (``jobs:``) and their runs.

A thin edge over ``/api/cron``; not to be confused with ``shipyard jobs`` (the control plane's
long operations: backups, restores). ``run`` starts a job now and waits for its end (its
output's last lines, its exit status; exit 1 when it failed), unless ``--no-wait``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from shipyard.cli.session import client
from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    from shipyard.schemas.cron import CronRunShown

cron_app = typer.Typer(no_args_is_help=True, help="Scheduled jobs of the serving release (`jobs:`).")
console = Console(soft_wrap=True)
COLOURS = {
    "running": "cyan",
    "succeeded": "green",
    "failed": "red",
    "timed_out": "red",
    "interrupted": "yellow",
}


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _line(run: CronRunShown) -> str:
    colour = COLOURS.get(run.status, "white")
    took = (run.finished_at or time.time()) - run.started_at
    code = "" if run.exit_code is None else f" exit {run.exit_code}"
    return (
        f"{run.id:>5} {run.job:<16} [{colour}]{run.status:<11}[/] {run.release_id:<6} {run.trigger:<8} "
        f"{_when(run.started_at)} {took:7.1f}s{code}"
    )


@cron_app.command("list")
def list_(env: Annotated[str, typer.Argument(help="Environment.")]) -> None:
    """The environment's jobs: schedule, next run, last run."""
    from shipyard.schemas.cron import CronJobs

    jobs = CronJobs.model_validate(client().get(f"/api/cron/{env}")).jobs
    if not jobs:
        console.print(f"no scheduled jobs in {env} (`jobs:` in shipyard.yaml)")
    for job in jobs:
        last = "never run" if job.last is None else f"last {job.last.status} at {_when(job.last.started_at)}"
        running = f"; {job.running} running" if job.running else ""
        console.print(
            f"{job.name:<16} {escape(job.schedule):<18} next {_when(job.next_at)}; {last}{running}",
            highlight=False,
        )


@cron_app.command("history")
def history(
    env: Annotated[str, typer.Argument(help="Environment.")],
    job: Annotated[str | None, typer.Argument(help="Only this job's runs.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    output: Annotated[
        bool, typer.Option("--output", help="Also print each run's last output lines.")
    ] = False,
) -> None:
    """The newest runs: trigger (schedule, missed, manual), status, exit code."""
    from shipyard.schemas.cron import CronRuns

    runs = CronRuns.model_validate(client().get(f"/api/cron/{env}/runs", job=job, limit=limit)).runs
    if not runs:
        console.print("no runs yet")
    for run in runs:
        console.print(_line(run), highlight=False)
        if output and run.output:
            console.print(escape(run.output), highlight=False)


@cron_app.command("run")
def run(
    env: Annotated[str, typer.Argument(help="Environment.")],
    job: Annotated[str, typer.Argument(help="The job's name under `jobs:`.")],
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the run's end.")] = True,
) -> None:
    """Run a job now in the serving release (needs deploy permission); exit 1 if it fails."""
    from shipyard.schemas.cron import CronRunShown

    api = client()
    shown = CronRunShown.model_validate(api.post(f"/api/cron/{env}/{job}/run"))
    console.print(f"run {shown.id} of {job} started in {env} ({shown.release_id})", highlight=False)
    while wait and shown.status == "running":
        time.sleep(0.5)
        shown = CronRunShown.model_validate(api.get(f"/api/cron/{env}/runs/{shown.id}"))
    if not wait:
        return
    console.print(_line(shown), highlight=False)
    if shown.output:
        console.print(escape(shown.output), highlight=False)
    if shown.status != "succeeded":
        raise ShipyardError(
            f"job {job} {shown.status.replace('_', ' ')} in {env}",
            f"see its output with `shipyard cron history {env} {job} --output` or `shipyard logs {env}`",
        )
