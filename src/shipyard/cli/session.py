"""What every CLI command shares: the folders chosen by global options, and the client."""

from __future__ import annotations

from pathlib import Path

from shipyard.cli.client import Client


class Opts:
    home: Path = Path(".shipyard")
    app_dir: Path = Path(".")


def client() -> Client:
    return Client(Opts.home)
