"""``shipyard apps add|list|remove``: several apps served by one control plane.

A thin edge over ``/api/apps`` of the primary control plane (the one ``shipyard up`` started,
run from its folder). ``add NAME PATH`` serves the app whose shipyard.yaml is in PATH beside the
others (its API at ``/apps/NAME``; the CLI run in PATH finds it as usual), its ``edge.domains``
on the shared edge; ``remove`` refuses while the app serves unless ``--force``, which takes it
off the edge and stops its instances.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from shipyard.cli.session import client

if TYPE_CHECKING:
    from shipyard.schemas.apps import App

apps_app = typer.Typer(no_args_is_help=True, help="Several apps on one control plane: add, list, remove.")
console = Console(soft_wrap=True)


def _line(app: App) -> str:
    envs = ", ".join(app.environments) or "-"
    domains = ", ".join(app.domains) or "-"
    return (
        f"{app.name:<16} {escape(app.state):<10} {escape(app.path)}\n"
        f"  environments {escape(envs)}  domains {escape(domains)}"
    )


@apps_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The app's name (its API is at /apps/NAME).")],
    path: Annotated[Path, typer.Argument(help="The app's folder, holding its shipyard.yaml.")],
) -> None:
    """Serve the app in PATH beside the others (checked before it is recorded)."""
    from shipyard.schemas.apps import App

    body = {"name": name, "path": str(path.resolve())}
    console.print(_line(App.model_validate(client().post("/api/apps", body))), highlight=False)


@apps_app.command("list")
def list_() -> None:
    """Every app this control plane serves: name, state, folder, environments, domains."""
    from shipyard.schemas.apps import Apps

    for app in Apps.model_validate(client().get("/api/apps")).apps:
        console.print(_line(app), highlight=False)


@apps_app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="The app's name.")],
    force: Annotated[
        bool, typer.Option("--force", help="Also when it serves: stop its instances and its HAProxy.")
    ] = False,
) -> None:
    """Stop serving app NAME: off the shared edge and the API (its folder and home are kept)."""
    from shipyard.schemas.apps import App

    done = App.model_validate(client().post(f"/api/apps/{name}/remove", force=force))
    console.print(_line(done), highlight=False)
