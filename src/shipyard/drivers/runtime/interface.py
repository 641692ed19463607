"""The runtime-driver interfaces the engine depends on: where instances run, builds, probes.

``Runtime`` is the seam between the engine and wherever the app's instances run. It speaks
the engine's terms: start an instance of a release for (environment, colour, slot) and get
back its endpoint (``host:port``, where HAProxy and the probes reach it) and an opaque ref
(a short JSON text only the runtime reads, kept in the instance's row); stop it; whether it
is alive; its CPU and memory; its last output lines; its output streams, read on from a kept
position (the central logs); instances this home started that the store no longer knows
(orphans); and a one-off command of a release (migrations). The process runtime
(``supervisor.LocalRuntime``) keeps pids, ports, log files and process groups behind it;
other runtimes (containers) fit the same methods.

The engine types its dependencies by these Protocols and never by the classes that implement
them (``supervisor.LocalRuntime``, ``builder.Builder``, ``probe.Prober``); only the
composition root (``shipyard.runtime``) names those, so a unit test can hand the engine a fake
for any of them (``tests/unit/fakes.py``). The value types they answer with are plain frozen
records, shared as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from shipyard.core.logline import Source
from shipyard.core.records import Release, instance_name
from shipyard.core.swarm import Node
from shipyard.drivers.runtime.commands import CommandResult
from shipyard.drivers.runtime.logfiles import OutputStream
from shipyard.drivers.runtime.probe import ProbeResult
from shipyard.drivers.runtime.usage import Usage
from shipyard.manifest.models import Manifest

Warn = Callable[[str], None]  # a line for the deployment's events (the builder's notes)

__all__ = [
    "CommandResult",
    "HealthProber",
    "InstanceSpec",
    "Node",
    "NodeLister",
    "OneOff",
    "OutputStream",
    "ProbeResult",
    "ReleaseBuilder",
    "Runtime",
    "Started",
    "Usage",
    "Warn",
]


@dataclass(frozen=True)
class InstanceSpec:
    """One instance to start: which release, where it belongs, what it runs with.

        ``variables`` is the app's environment (the runtime adds ``PORT``, the port it listens
        on); ``endpoint`` is the one the instance had before, kept when the runtime can (a
        restart), so HAProxy's server keeps its address; ``secrets`` names the variables that are
    the vault's secrets (a runtime that can deliver them apart does). ``process`` is the manifest's process:
        only ``web`` listens (``listens``); a worker gets no port, and its ``Started.endpoint`` is "".
    """

    instance_id: int
    env: str
    colour: str
    slot: int
    release: Release
    command: str
    variables: dict[str, str] = field(default_factory=dict)
    endpoint: str | None = None
    process: str = "web"
    secrets: frozenset[str] = frozenset()  # which of ``variables`` are the vault's (Docker secrets on swarm)

    @property
    def name(self) -> str:
        return instance_name(self.process, self.colour, self.slot)

    @property
    def listens(self) -> bool:
        return self.process == "web"


@dataclass(frozen=True)
class Started:
    """A started instance: where it answers and the runtime's ref to it (stored as it is)."""

    endpoint: str  # host:port; "" for a worker (no port)
    ref: str  # opaque to the engine
    label: str  # how events name it, e.g. "pid 4242"


@dataclass(frozen=True)
class OneOff:
    """A one-off command of a release (a migration, a scheduled job's run), run to completion."""

    env: str
    release: Release
    command: str
    variables: dict[str, str]
    timeout: float
    hint: str = "check database.migrate"  # where the command comes from, for an error's hint
    name: str = "migrate"  # names its output in the central logs (``cron-<job>`` for a scheduled job)


class Runtime(Protocol):
    """Runs the app's instances and one-off commands (local processes today)."""

    def start(self, spec: InstanceSpec) -> Started:
        """Start one instance of ``spec.release``; raises ``InstanceError`` if it cannot."""

    def stop(self, ref: str | None, timeout: float) -> bool:
        """Stop gracefully (killed after ``timeout``); True if it had to be killed."""

    def alive(self, ref: str | None) -> bool:
        """Whether the instance ``ref`` names still runs."""

    def label(self, ref: str | None) -> str:
        """A short name of the running thing for events and messages (``pid 4242``)."""

    def pid(self, ref: str | None) -> int | None:
        """The instance's main process id on this machine, None when it has none here."""

    def usage(self, ref: str) -> Usage | None:
        """The instance's CPU and memory now; None when it is not running."""

    def forget_usage_except(self, live: set[str]) -> None:
        """Drop what is kept for usage of instances not in ``live``."""

    def output_tail(self, ref: str | None, lines: int = 5) -> str:
        """The last lines an instance wrote (stdout, then stderr), for an error's text."""

    def outputs(self) -> list[OutputStream]:
        """Every output stream of this home's instances (and one-off commands) to follow."""

    def read_output(self, stream: OutputStream, known: Source | None) -> tuple[list[bytes], Source] | None:
        """The complete lines ``stream`` got after ``known`` and the position after them; None if none."""

    def orphans(self, known: set[int]) -> list[str]:
        """Refs of instances this home started whose instance id is not in ``known``."""

    def run_once(self, job: OneOff) -> CommandResult:
        """Run ``job.command`` in its release to completion (killed at its time limit)."""


@runtime_checkable
class NodeLister(Protocol):
    """A runtime over several machines (``runtime: swarm``): its nodes and their state."""

    def nodes(self) -> list[Node]:
        """Every node, as the cluster's API reports it now."""


class ReleaseBuilder(Protocol):
    """Turns the app's source into an immutable release (its files and virtualenv)."""

    def build(
        self, app_dir: Path, manifest: Manifest, number: int, manifest_text: str, warn: Warn = ...
    ) -> Release:
        """Build release ``r<number>`` from the source ``manifest`` names under ``app_dir``."""


class HealthProber(Protocol):
    """HTTP probes straight to one instance's endpoint (health and smoke checks)."""

    def get(self, endpoint: str, path: str, timeout: float, expect: int = 200) -> ProbeResult:
        """GET ``path`` on ``endpoint`` (host:port); ok when the status is ``expect`` within ``timeout``."""

    def close(self) -> None:
        """Release the connections."""
