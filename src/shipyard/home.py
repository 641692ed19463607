"""The layout of a Shipyard home (``./.shipyard`` by default) and of the app's folder.

Neutral ground: the CLI (``shipyard server``, which finds the home), the composition root and
the engine all name files through ``Paths``; it reads and writes nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from shipyard.manifest.loader import FILENAME


@dataclass(frozen=True)
class Paths:
    home: Path  # the data folder, ./.shipyard by default
    app_dir: Path  # the folder holding shipyard.yaml

    @property
    def manifest(self) -> Path:
        return self.app_dir / FILENAME

    @property
    def state_db(self) -> Path:
        return self.home / "state.db"

    @property
    def logs_db(self) -> Path:
        return self.home / "logs.db"

    @property
    def proxy(self) -> Path:
        return self.home / "proxy"

    @property
    def master_key(self) -> Path:
        return self.home / "master.key"

    @property
    def releases(self) -> Path:
        return self.home / "releases"

    @property
    def cache(self) -> Path:
        return Path(os.environ.get("SHIPYARD_CACHE_DIR") or self.home / "cache")

    def env_data(self, env: str, own: str | None = None) -> Path:
        """The environment's data folder: ``environments.<env>.data_dir`` if set, under the home."""
        return self.home / own if own else self.envs / env / "data"

    @property
    def envs(self) -> Path:
        """Per environment its data and the instances' logs (the process runtime writes them)."""
        return self.home / "envs"
