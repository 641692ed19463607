"""The local workbench of pipeline runs: scratch copies, stage commands, reports, git metadata.

A run works in ``<home>/pipelines/run-<id>``: a writable copy of the release's (read-only)
snapshot, so test tools may write caches and reports without touching the release. A
command runs like a migration (``drivers/runtime/commands.py``: /bin/sh, the release's
virtualenv first on PATH, only the variables it is given, its own process group killed at
the time limit). Called by ``engine/pipeline/stages.py`` through ``interface.Workbench``.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

from shipyard.core.records import Release
from shipyard.drivers.pipeline.interface import Commit
from shipyard.drivers.runtime.commands import CommandResult, run_command
from shipyard.errors import ShipyardError

MAX_REPORT_BYTES = 32 * 1024 * 1024
HINT = "check the stage's commands in shipyard.yaml (pipeline.stages)"


class LocalWorkbench:
    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, run_id: int) -> Path:
        return self.root / f"run-{run_id}"

    def prepare(self, release: Release, run_id: int) -> Path:
        folder = self.folder(run_id)
        self.remove(folder)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copytree(Path(release.path) / "app", folder, symlinks=True)
        for path in [folder, *folder.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | stat.S_IWUSR)
        return folder

    def run(
        self, command: str, folder: Path, release: Release, env: dict[str, str], log: Path, timeout: float
    ) -> CommandResult:
        return run_command(command, folder, Path(release.path) / "venv", env, log, timeout, HINT)

    def read_report(self, folder: Path, path: str) -> str | None:
        target = (folder / path).resolve()
        if not target.is_relative_to(folder.resolve()):
            raise ShipyardError(
                f"report {path} leads out of the stage's folder", "write reports inside the stage's folder"
            )
        if not target.is_file():
            return None
        if target.stat().st_size > MAX_REPORT_BYTES:
            raise ShipyardError(
                f"report {path} is larger than {MAX_REPORT_BYTES // (1024 * 1024)} MiB",
                "write a summary report (coverage json, junit xml) rather than raw output",
            )
        return target.read_text(errors="replace")

    def remove(self, folder: Path) -> None:
        if folder.exists():
            for path in [folder, *folder.rglob("*")]:
                if not path.is_symlink():
                    path.chmod(path.stat().st_mode | stat.S_IWUSR)
            shutil.rmtree(folder)

    def commit_of(self, source: Path) -> Commit | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(source), "log", "-1", "--format=%H%x00%ct%x00%s"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        parts = done.stdout.strip().split("\0")
        if done.returncode != 0 or len(parts) != 3 or not parts[1].isdigit():
            return None
        return Commit(parts[0], float(parts[1]), parts[2])
