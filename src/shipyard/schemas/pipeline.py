"""Pipeline runs and delivery figures (``server/pipeline.py``; ``shipyard pipeline|stats``).

A run is started as a job (``POST /api/pipelines`` answers ``202`` with ``JobStarted``,
whose result is ``PipelineDone``); ``PipelineRun`` is a run with its stages and their gates
(``state/pipelines.py``), ``DeliveryStats`` the figures of ``core/pipeline/figures.py``.
"""

from __future__ import annotations

from pydantic import Field

from shipyard.core.pipeline.figures import Figures
from shipyard.schemas.common import Answer, Body, ReleaseId


class RunBody(Body):
    release: ReleaseId = Field(description="The release whose pipeline runs (see `shipyard releases`).")


class Gate(Answer):
    stage: str
    gate: str
    ok: bool
    figure: str
    message: str


class Stage(Answer):
    name: str
    status: str  # waiting, running, passed, failed, skipped
    started_at: float | None
    finished_at: float | None
    detail: str
    gates: list[Gate] = Field(default_factory=list)
    output: str = ""


class PipelineRun(Answer):
    id: int
    release_id: str
    build_id: str
    env: str
    status: str  # queued, running, passed, failed, interrupted
    requested_by: str
    trigger: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    failed_stage: str | None
    message: str
    stages: list[Stage] = Field(default_factory=list)


class PipelineRuns(Answer):
    runs: list[PipelineRun]


class PipelineDone(Answer):
    """A passed run (a job's result); a failed one fails the job with the stage's message."""

    run: int
    release: str
    status: str
    stages: list[str]


# The delivery figures are answered as ``core/pipeline/figures.py``'s frozen dataclass itself
# (FastAPI and pydantic validate dataclasses): one definition of their fields.
DeliveryStats = Figures
