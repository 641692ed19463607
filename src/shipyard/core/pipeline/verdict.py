"""Whether a release may be deployed or promoted, from its pipeline's latest run. Pure.

When shipyard.yaml has a ``pipeline``, a release goes to an environment only if the latest
run for its build passed (a configuration release shares its build's runs). The engine
(``engine/pipeline/runs.py``) asks before a deployment or a promotion takes the lock; a
rollback is never refused here (it goes back to what served before).
"""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.errors import ConflictError


@dataclass(frozen=True)
class RunSummary:
    id: int
    release_id: str
    status: str  # queued, running, passed, failed, interrupted
    failed_stage: str | None = None
    message: str = ""


def check_deployable(release_id: str, env: str, has_pipeline: bool, latest: RunSummary | None) -> None:
    """Raise ``ConflictError`` naming the stage and how to rerun, unless the release may go to ``env``."""
    if not has_pipeline:
        return
    rerun = f"`shipyard pipeline run {release_id}`"
    if latest is None:
        raise ConflictError(
            f"release {release_id} cannot go to {env}: it has not passed the pipeline (no run yet)",
            f"run the pipeline with {rerun}, then deploy it again",
        )
    if latest.status == "passed":
        return
    if latest.status in ("queued", "running"):
        raise ConflictError(
            f"release {release_id} cannot go to {env} yet: its pipeline run {latest.id} is {latest.status}",
            f"follow it with `shipyard pipeline show {latest.id} --follow`, then deploy again",
        )
    where = f" at stage {latest.failed_stage}" if latest.failed_stage else ""
    said = f": {latest.message}" if latest.message else ""
    raise ConflictError(
        f"release {release_id} cannot go to {env}: its pipeline run {latest.id} {latest.status}{where}{said}",
        f"see `shipyard pipeline show {latest.id}`; fix the app and deploy a new release, "
        f"or rerun the pipeline with {rerun}",
    )
