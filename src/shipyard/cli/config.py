"""``shipyard config show|diff``: an environment's merged configuration, and two compared.

A thin edge over ``/api/config``: each value with the layer it came from;
values that use a secret are masked by the control plane before they are sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from shipyard.cli.session import client

if TYPE_CHECKING:
    from shipyard.schemas.delivery import Side

config_app = typer.Typer(no_args_is_help=True, help="Layered configuration: show and compare.")
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
EnvArg = Annotated[str, typer.Argument(help="Environment.")]


@config_app.command()
def show(env: EnvArg) -> None:
    """The merged configuration of ENV, each value with its origin (secrets masked)."""
    from rich.table import Table

    from shipyard.schemas.delivery import ConfigShown

    data = ConfigShown.model_validate(client().get(f"/api/config/{env}"))
    if data.values:
        table = Table("key", "value", "origin")
        for row in data.values:
            origin = row.origin + (f" (secret {', '.join(row.secrets)})" if row.secrets else "")
            table.add_row(escape(row.key), escape(row.value), escape(origin))
        console.print(table)
    else:
        console.print(f"{env} has no configuration values")
    for problem in data.problems:
        err.print(
            f"[red]problem:[/] {escape(problem.problem)}  [yellow]fix:[/] {escape(problem.fix)}",
            highlight=False,
        )
    if data.problems:
        err.print(f"[red]a deployment to {env} would be refused until these are fixed[/]")


@config_app.command("diff")
def diff_(a: EnvArg, b: Annotated[str, typer.Argument(help="The other environment.")]) -> None:
    """Keys whose value differs between two environments (secrets masked)."""
    from shipyard.schemas.delivery import ConfigDiff

    data = ConfigDiff.model_validate(client().get(f"/api/config/{a}/diff/{b}"))
    if not data.changes:
        console.print(f"{a} and {b} have the same configuration")
        return
    from rich.table import Table

    table = Table("key", a, b)
    for row in data.changes:
        table.add_row(escape(row.key), _side(row.a), _side(row.b))
    console.print(table)


def _side(side: Side | None) -> str:
    return "(unset)" if side is None else f"{escape(side.value)}  [dim]({escape(side.origin)})[/]"
