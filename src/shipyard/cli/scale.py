"""``shipyard scale ENV [N] [--auto] [--history]``: an environment's web instance count.

A thin edge over ``/api/scale/{env}``. With N it pins the count (audited) until ``--auto``
returns it to the autoscaler; with ``--history`` it lists the autoscaler's decisions (metric
values, the rule that decided, why it held); alone it shows the count, the pin and the last
decision.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from shipyard.cli.session import client
from shipyard.errors import InputError

console = Console(soft_wrap=True)


def scale(
    env: Annotated[str, typer.Argument(help="Environment.")],
    count: Annotated[
        int | None, typer.Argument(help="Pin this many web instances (1 to autoscale.max).")
    ] = None,
    auto: Annotated[bool, typer.Option("--auto", help="Let the autoscaler decide again.")] = False,
    history: Annotated[bool, typer.Option("--history", help="Each decision, newest last.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000, help="Decisions shown.")] = 20,
) -> None:
    """Show ENV's instance count, pin it to N, return it to automatic, or list the decisions."""
    if sum((count is not None, auto, history)) > 1:
        raise InputError("give one of N, --auto or --history", f"for example `shipyard scale {env} 3`")
    if history:
        for row in client().get(f"/api/scale/{env}/history", limit=limit):
            console.print(escape(_decision(row)), highlight=False)
        return
    if count is not None or auto:
        state = client().post(f"/api/scale/{env}", {"count": count})
    else:
        state = client().get(f"/api/scale/{env}")
    console.print(escape(_state(state)), highlight=False)


def _state(state: dict[str, Any]) -> str:
    pin = f", pinned by {state['pinned_by']}" if state["pinned"] is not None else ", automatic"
    warming = f", {state['starting']} starting" if state["starting"] else ""
    line = (
        f"{state['env']}: {state['desired']} instances wanted ({state['min']} to {state['max']}{pin}); "
        f"{state['serving']} serving{warming}"
    )
    return line + (f"\n  last: {_decision(state['last'])}" if state["last"] else "")


def _decision(row: dict[str, Any]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["at"]))
    figures = " ".join(f"{k}={'-' if v is None else f'{v:.3g}'}" for k, v in sorted(row["metrics"].items()))
    moved = (
        f"{row['current']} -> {row['desired']}"
        if row["desired"] != row["current"]
        else f"hold {row['current']}"
    )
    why = f"; {row['reason']}" if row["reason"] else ""
    return f"{when} {moved} (recommended {row['recommendation']}) by {row['rule']}{why} [{figures}]"
