"""``shipyard maintenance on|off|status ENV``: the maintenance page of an environment.

A thin edge over ``/api/maintenance/{env}``. While it is on, HAProxy answers every request with
503, ``Retry-After`` and the message, except requests from the ``--allow`` networks, which still
reach the app (to check it before opening again). Turning it on again changes the message and
the networks.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console

from shipyard.cli.session import client

maintenance_app = typer.Typer(no_args_is_help=True, help="Answer 503 with a maintenance page, or stop.")
console = Console(soft_wrap=True)
EnvArg = Annotated[str, typer.Argument(help="Environment.")]


@maintenance_app.command("on")
def on(
    env: EnvArg,
    message: Annotated[
        str | None, typer.Option("--message", help="The page's text (one line); default: a generic notice.")
    ] = None,
    allow: Annotated[
        list[str] | None,
        typer.Option("--allow", help="A network (CIDR) that still reaches the app; repeat for several."),
    ] = None,
) -> None:
    """Answer every request to ENV with 503 and the page (no HAProxy reload)."""
    state = client().post(f"/api/maintenance/{env}/on", {"message": message, "allow": allow or []})
    console.print(_line(state), highlight=False)


@maintenance_app.command("off")
def off(env: EnvArg) -> None:
    """Let requests reach ENV's app again."""
    console.print(_line(client().post(f"/api/maintenance/{env}/off")), highlight=False)


@maintenance_app.command("status")
def status(env: EnvArg) -> None:
    """Whether ENV's maintenance page is on, since when, by whom, and who still gets through."""
    console.print(_line(client().get(f"/api/maintenance/{env}")), highlight=False)


def _line(state: dict[str, Any]) -> str:
    if not state["on"]:
        return f"{state['env']}: maintenance off, requests reach the app"
    allowed = f"; {', '.join(state['allow'])} still reach the app" if state["allow"] else ""
    return f"{state['env']}: maintenance on (by {state['by']}): 503 {state['message']!r}{allowed}"
