"""``shipyard pipeline run|list|show`` and ``shipyard stats``: a thin edge over
``/api/pipelines`` and ``/api/stats``.

``run`` starts a release's pipeline as a job and follows it (each stage's start, its gates'
figures and its end, on stderr; Ctrl-C detaches), then prints the run's stages; a failed run
exits 1 with the failed stage's message and how to rerun. ``show --follow`` polls a run until
it ends, printing each stage as it changes, as ``cli/follow.py`` does for a deployment.
``stats`` prints the delivery figures of an environment (or of each one) over ``--since``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from shipyard.cli.jobs import run_job
from shipyard.cli.session import client
from shipyard.core.durations import format_duration, parse_duration
from shipyard.errors import InputError, ShipyardError

if TYPE_CHECKING:
    from shipyard.cli.session import Api
    from shipyard.schemas.pipeline import DeliveryStats, PipelineRun, Stage

pipeline_app = typer.Typer(
    no_args_is_help=True, help="Run and inspect a release's pipeline (stages and gates)."
)
console = Console(soft_wrap=True)
COLOURS = {"passed": "green", "failed": "red", "interrupted": "red", "skipped": "yellow"}
ACTIVE = ("queued", "running")


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _status(status: str) -> str:
    return f"[{COLOURS.get(status, 'cyan')}]{status}[/]"


def _run_line(run: PipelineRun) -> str:
    took = (run.finished_at or time.time()) - (run.started_at or run.created_at)
    where = f" at {run.failed_stage}" if run.failed_stage else ""
    return (
        f"run {run.id:>4} {_status(run.status):<20} {run.release_id:<6} {run.trigger:<7} "
        f"{escape(run.requested_by):<10} {_when(run.created_at)} {took:7.1f}s{where}"
    )


def _stage_lines(stage: Stage) -> list[str]:
    took = (
        ""
        if stage.finished_at is None or stage.started_at is None
        else f" {stage.finished_at - stage.started_at:.1f}s"
    )
    lines = [f"  {stage.name:<12} {_status(stage.status)}{took}  {escape(stage.detail)}"]
    for gate in stage.gates:
        mark = "[green]ok[/]" if gate.ok else "[red]FAILED[/]"
        lines.append(f"    {gate.gate:<14} {escape(gate.figure):<40} {mark}")
        if not gate.ok:
            lines.append(f"      {escape(gate.message)}")
    return lines


def _print_run(run: PipelineRun, output: bool = False) -> None:
    console.print(_run_line(run), highlight=False)
    for stage in run.stages:
        for line in _stage_lines(stage):
            console.print(line, highlight=False)
        if output and stage.output:
            console.print(escape(stage.output), highlight=False)


@pipeline_app.command("run")
def run(
    release: Annotated[str, typer.Argument(help="Release whose pipeline runs (`shipyard releases`).")],
) -> None:
    """Run a release's pipeline now and follow it; exits 1 if a stage failed."""
    from shipyard.schemas.pipeline import PipelineDone, PipelineRun

    done = PipelineDone.model_validate(run_job("/api/pipelines", {"release": release}))
    _print_run(PipelineRun.model_validate(client().get(f"/api/pipelines/{done.run}")))


@pipeline_app.command("list")
def list_(
    release: Annotated[str | None, typer.Option(help="Only this release's runs.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
) -> None:
    """The newest pipeline runs."""
    from shipyard.schemas.pipeline import PipelineRuns

    runs = PipelineRuns.model_validate(client().get("/api/pipelines", release=release, limit=limit)).runs
    if not runs:
        console.print("no pipeline runs yet; start one with `shipyard pipeline run RELEASE`")
    for item in runs:
        console.print(_run_line(item), highlight=False)


@pipeline_app.command("show")
def show(
    run_id: Annotated[int, typer.Argument(help="Run id (`shipyard pipeline list`).")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Follow it until it ends.")] = False,
    output: Annotated[
        bool, typer.Option("--output", help="Also print each stage's last output lines.")
    ] = False,
) -> None:
    """A run: its stages, their gates' figures, and why it failed."""
    from shipyard.schemas.pipeline import PipelineRun

    api = client()
    shown = PipelineRun.model_validate(api.get(f"/api/pipelines/{run_id}"))
    if follow and shown.status in ACTIVE:
        shown = follow_run(api, run_id)
    _print_run(shown, output)
    if shown.status not in ("passed", *ACTIVE):
        raise ShipyardError(
            shown.message or f"pipeline run {run_id} {shown.status}",
            f"rerun it with `shipyard pipeline run {shown.release_id}`",
        )


def follow_run(api: Api, run_id: int, poll: float = 0.5) -> PipelineRun:
    """Print each stage's change until the run ends; the ended run."""
    from shipyard.schemas.pipeline import PipelineRun

    seen: dict[str, str] = {}
    while True:
        shown = PipelineRun.model_validate(api.get(f"/api/pipelines/{run_id}"))
        for stage in shown.stages:
            if seen.get(stage.name) != stage.status:
                seen[stage.name] = stage.status
                stamp = time.strftime("%H:%M:%S")
                console.print(f"{stamp} stage {stage.name} {_status(stage.status)}", highlight=False)
        if shown.status not in ACTIVE:
            return shown
        time.sleep(poll)


def _figure(value: float | None, kind: str) -> str:
    if value is None:
        return "-"
    return f"{value * 100:.1f}%" if kind == "share" else format_duration(value)


def _print_stats(s: DeliveryStats, since: str) -> None:
    console.print(f"[bold]{s.env}[/] over the last {since}", highlight=False)
    rows = [
        ("deployment frequency", f"{s.per_day:.2f} a day ({s.succeeded} succeeded)"),
        ("success rate", f"{_figure(s.success_rate, 'share')} ({s.succeeded} of {s.changes} changes)"),
        ("lead time for changes", f"{_figure(s.lead_time, 'time')} (median, from {s.lead_time_from})"),
        (
            "change failure rate",
            f"{_figure(s.change_failure_rate, 'share')} ({s.change_failures} of {s.went_live} live)",
        ),
        (
            "time to restore",
            f"{_figure(s.time_to_restore, 'time')} (median of {s.restored}; {s.unrestored} not restored)",
        ),
    ]
    for name, value in rows:
        console.print(f"  {name:<22} {escape(value)}", highlight=False)


def stats(
    env: Annotated[str | None, typer.Argument(help="Environment; default: every one you may read.")] = None,
    since: Annotated[str, typer.Option(help="How far back, e.g. 30d, 12h.")] = "30d",
) -> None:
    """Delivery figures: deployment frequency, lead time, change failure rate, time to restore."""
    from pydantic import TypeAdapter

    from shipyard.schemas.pipeline import DeliveryStats

    try:
        seconds = parse_duration(since)
    except ValueError as exc:
        raise InputError(f"--since: {exc}", "write a duration such as 30d, 7d or 12h") from None
    if seconds <= 0:
        raise InputError("--since must be more than 0", "write a duration such as 30d, 7d or 12h")
    api = client()
    envs = [env] if env else list(api.get("/api/status")["environments"])
    for name in envs:
        figures = TypeAdapter(DeliveryStats).validate_python(api.get(f"/api/stats/{name}", since=seconds))
        _print_stats(figures, since)
