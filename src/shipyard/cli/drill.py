"""``shipyard drill ENV [--list]``: a disaster-recovery drill, or the drills so far.

A thin edge over ``/api/drills``; a drill runs as a job, followed until it ends
(``cli/jobs.py``: progress on stderr, Ctrl-C detaches). The control plane simulates losing
the database, restores the latest recoverable state into a scratch folder and measures RTO
and RPO against ``database.drill``'s targets. Exits 1 when the drill missed a target or could
not restore.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from shipyard.cli.jobs import run_job
from shipyard.cli.session import client

if TYPE_CHECKING:
    from shipyard.schemas.data import Drill

console = Console(soft_wrap=True)


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + "Z"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _line(d: Drill) -> str:
    colour = {"passed": "green", "failed": "red", "error": "red"}.get(d.status, "white")
    head = f"[{colour}]{d.status}[/] {d.id} ({d.kind}, {_when(d.started_at)})"
    if d.status == "error":
        return f"{head}: {escape(d.error)}" + (f" (try: {escape(d.detail)})" if d.detail else "")
    rto = f"RTO {_seconds(d.rto_s)} (target {d.rto_target_s:.0f}s{'' if d.rto_ok else ', MISSED'})"
    rpo = f"RPO {_seconds(d.rpo_s)} (target {d.rpo_target_s:.0f}s{'' if d.rpo_ok else ', MISSED'})"
    return f"{head}: {rto}, {rpo}; {escape(d.detail)}"


def drill(
    env: Annotated[str, typer.Argument(help="Environment.")] = "dev",
    list_: Annotated[
        bool, typer.Option("--list", help="List the drills so far instead of running one.")
    ] = False,
) -> None:
    """Disaster-recovery drill: restore the latest backups into scratch, measure RTO and RPO."""
    from shipyard.schemas.data import DrillDone, DrillList

    if list_:
        drills = DrillList.model_validate(client().get(f"/api/drills/{env}")).drills
        if not drills:
            console.print(f"no drills of {env} yet; run one with `shipyard drill {env}`")
        for d in drills:
            console.print(_line(d), highlight=False)
        return
    d = DrillDone.model_validate(run_job(f"/api/drills/{env}")).drill
    console.print(_line(d), highlight=False)
    if d.status != "passed":
        raise typer.Exit(1)
