"""What the triggers engine (``engine/triggers/``) asks of git, as a Protocol.

``Checkouts`` fetches one pushed commit of a repository (a URL or a local path, such as the
bare repository Shipyard hosts for ``git push``) into a work folder and removes it again.
The local implementation is ``git.GitCheckouts``; the composition root picks it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from shipyard.drivers.pipeline.interface import Commit


class Checkouts(Protocol):
    def hosted(self, app: str) -> Path:
        """The bare repository Shipyard hosts for ``app`` (``git push`` goes there)."""

    def checkout(self, repository: str, branch: str, sha: str, folder: Path) -> Commit:
        """``sha`` of ``branch`` from ``repository``, checked out in ``folder``; its commit."""

    def remove(self, folder: Path) -> None:
        """Remove a checkout."""
