"""The runtime-driver interfaces the engine depends on: processes, builds, probes, usage.

The engine types its dependencies by these Protocols and never by the classes that implement
them (``supervisor.LocalRuntime``, ``builder.Builder``, ``probe.Prober``,
``usage.UsageSampler``); only the composition root (``shipyard.runtime``) names those, so a
unit test can hand the engine a fake for any of them. The value types they answer with
(``ProcessRef``, ``ProbeResult``, ``Usage``) are plain frozen records, shared as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from shipyard.core.records import Release
from shipyard.drivers.runtime.probe import ProbeResult
from shipyard.drivers.runtime.procs import ProcessRef
from shipyard.drivers.runtime.usage import Usage
from shipyard.manifest.models import Manifest

Warn = Callable[[str], None]  # a line for the deployment's events (the builder's notes)

__all__ = [
    "HealthProber",
    "ProbeResult",
    "ProcessRef",
    "ReleaseBuilder",
    "Runtime",
    "Usage",
    "UsageSource",
    "Warn",
]


class Runtime(Protocol):
    """Starts, stops and watches the app's processes (local processes today)."""

    def start(
        self, instance_id: int, command: str, cwd: Path, venv: Path, env: dict[str, str], log_path: Path
    ) -> ProcessRef:
        """Start ``command`` as instance ``instance_id``, its output appended to ``log_path``."""

    def stop(self, ref: ProcessRef | None, timeout: float) -> bool:
        """Stop gracefully (SIGKILL after ``timeout``); True if something was stopped."""

    def alive(self, ref: ProcessRef | None) -> bool:
        """Whether the process ``ref`` names (pid and start time) still runs."""

    def orphans(self, known: set[int]) -> list[ProcessRef]:
        """Processes this home started whose instance id is not in ``known``."""

    def log_tail(self, log_path: Path, lines: int = 5) -> str:
        """The last lines an instance wrote (stdout, then stderr), for an error's text."""


class ReleaseBuilder(Protocol):
    """Turns the app's source into an immutable release (its files and virtualenv)."""

    def build(
        self, app_dir: Path, manifest: Manifest, number: int, manifest_text: str, warn: Warn = ...
    ) -> Release:
        """Build release ``r<number>`` from the source ``manifest`` names under ``app_dir``."""


class HealthProber(Protocol):
    """HTTP probes straight to one instance's port (health and smoke checks)."""

    def get(self, port: int, path: str, timeout: float, expect: int = 200) -> ProbeResult:
        """GET ``path``; ok when the answer's status is ``expect`` within ``timeout``."""

    def close(self) -> None:
        """Release the connections."""


class UsageSource(Protocol):
    """CPU and memory of an instance's process tree."""

    def sample(self, ref: ProcessRef) -> Usage | None:
        """The instance's usage now; None when it is not running."""

    def forget_except(self, live: set[ProcessRef]) -> None:
        """Drop what is kept for processes not in ``live``."""
