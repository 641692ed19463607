"""What every CLI command shares: the folders chosen by global options, the user, the client."""

from __future__ import annotations

import os
from pathlib import Path

from shipyard.cli.client import Client


class Opts:
    home: Path = Path(".shipyard")
    app_dir: Path = Path(".")


def client() -> Client:
    return Client(Opts.home)


def user() -> str:
    return os.environ.get("SHIPYARD_USER") or os.environ.get("USER") or "cli"
