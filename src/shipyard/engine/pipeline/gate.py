"""What a deployment asks of the pipelines once it built a release: its ``pipeline`` step.

``engine/delivery/deploy.py`` types its hook by this Protocol; ``runs.Pipelines`` is the one
implementation, which the composition root hands to the launcher.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from shipyard.core.records import Release

Note = Callable[[str, str], None]  # (step, message): a line in the deployment's events


class BuildGate(Protocol):
    def built(self, release: Release) -> bool:
        """Record what a new build came from (its git commit); whether a pipeline must pass now."""
        ...

    def gate_new_build(self, release: Release, note: Note) -> tuple[None, str]:
        """Run the pipeline for a release just built; raise a ``ShipyardError`` naming the stage."""
        ...

    def verify(self, dep_id: int, env: str, release: Release, note: Note) -> None:
        """After the switch: run the environment's post-deploy checks, recorded as step ``verify``."""
        ...
