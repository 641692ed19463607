"""What every CLI command shares: the folders chosen by global options, the client, the output.

Light on purpose (no httpx, no Rich until used): the fast entry point (``cli/hot.py``) imports
it before it sends a rollback.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rich.console import Console

    from shipyard.cli.client import Client
    from shipyard.errors import ShipyardError


class Opts:
    home: Path = Path(".shipyard")
    app_dir: Path = Path(".")


class Api(Protocol):
    """What commands call on the API: ``client.Client`` and ``connection.Connection`` alike."""

    def get(self, path: str, **params: Any) -> Any: ...

    def post(self, path: str, body: dict[str, Any] | None = None, **params: Any) -> Any: ...


def use_folders(home: Path, app_dir: Path) -> None:
    """Set the global options ``--home`` (relative to the current folder) and ``--app-dir``."""
    Opts.app_dir = app_dir.resolve()
    Opts.home = home if home.is_absolute() else (Path.cwd() / home)


def client() -> Client:
    from shipyard.cli.client import Client

    return Client(Opts.home)


@cache
def console() -> Console:
    """Standard output through Rich (loaded at the first print, not at start)."""
    from rich.console import Console

    return Console(soft_wrap=True)


def print_error(exc: ShipyardError) -> None:
    """``Error: ...`` then ``Try: ...`` on stderr: how every command reports a failure."""
    from rich.console import Console
    from rich.markup import escape

    err = Console(stderr=True, soft_wrap=True)
    err.print(f"[red]Error:[/] {escape(exc.message)}", highlight=False)
    if exc.hint:
        err.print(f"[yellow]Try:[/] {escape(exc.hint)}", highlight=False)
