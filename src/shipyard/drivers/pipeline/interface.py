"""What the pipeline engine (``engine/pipeline/``) asks of the machine, as a Protocol.

``Workbench`` makes a writable scratch copy of a release's snapshot for a run, runs a stage's
command there with the release's virtualenv and a given environment (output appended to a log
file, a time limit), reads a report the command wrote (inside the folder only, size-capped),
removes the folder, and reads the git commit of a source folder. The local implementation is
``workbench.LocalWorkbench``; the composition root picks it, tests may pass a fake.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shipyard.core.records import Release
from shipyard.drivers.runtime.commands import CommandResult

__all__ = ["CommandResult", "Commit", "Workbench"]


@dataclass(frozen=True)
class Commit:
    sha: str
    at: float  # commit time (seconds since the epoch)
    message: str  # its first line


class Workbench(Protocol):
    def folder(self, run_id: int) -> Path:
        """Where run ``run_id`` works (removed after the run; a run cut short leaves it)."""

    def prepare(self, release: Release, run_id: int) -> Path:
        """A fresh writable copy of the release's app folder for run ``run_id``."""

    def run(
        self, command: str, folder: Path, release: Release, env: dict[str, str], log: Path, timeout: float
    ) -> CommandResult:
        """Run ``command`` (/bin/sh) in ``folder`` with the release's virtualenv, at most ``timeout``."""

    def read_report(self, folder: Path, path: str) -> str | None:
        """The text of ``folder/path`` (None if missing); refuses a path leading out of ``folder``."""

    def remove(self, folder: Path) -> None:
        """Remove a run's scratch folder."""

    def commit_of(self, source: Path) -> Commit | None:
        """The HEAD commit of ``source`` when it is a git checkout, else None."""
