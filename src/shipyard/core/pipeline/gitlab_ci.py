"""``shipyard ci export gitlab``: the pipeline's stages as a ``.gitlab-ci.yml``. Pure.

The same shape as the GitHub workflow (``workflow.py``): one job per stage in a GitLab stage of
its own, ordered so that a stage comes after what it needs, with ``needs`` carried over so
that stages without dependencies run at once (GitLab's DAG; ``needs: []`` starts a job without
waiting for earlier stages); the stage's timeout, its commands and custom checks as the job's
script after the app's requirements are installed, its variables from ``pipeline.env``; then a
``deploy`` job that asks Shipyard's API to deploy with a token kept in the project's CI/CD
variables. The pipeline runs for pushes to one branch (``workflow: rules``).
"""

from __future__ import annotations

import math
from graphlib import TopologicalSorter
from typing import Any

from shipyard.core.pipeline.workflow import Export, StageLike, deploy_command, gates

# top-level keywords of .gitlab-ci.yml that cannot name a job
RESERVED = frozenset(
    {"image", "services", "stages", "types", "before_script", "after_script", "variables", "cache",
     "include", "workflow", "default", "pages", "deploy"}
)  # fmt: skip


def _job(name: str, stage: StageLike, python: str, requirements: str | None) -> dict[str, Any]:
    script = [f"pip install -r {requirements}"] if requirements else []
    script += list(stage.commands) + [c.command for c in stage.checks]
    job: dict[str, Any] = {
        "stage": name,
        "image": f"python:{python}",
        "timeout": f"{max(1, math.ceil(stage.timeout / 60))} minutes",
        "needs": list(stage.needs),
        "script": script,
    }
    if named := gates(stage):
        job["variables"] = {"SHIPYARD_GATES": ", ".join(named)}  # shown on the job's page
    return job


def gitlab_ci(spec: Export) -> dict[str, Any]:
    """The file's mapping: a job per stage, then ``deploy`` of ``spec.env`` once every stage passed."""
    stages, python = spec.stages, spec.python
    if clash := sorted(RESERVED & set(stages)):
        raise ValueError(
            f"a stage named `{clash[0]}` clashes with a keyword of .gitlab-ci.yml "
            "or its deploy job: rename it"
        )
    order = list(TopologicalSorter({name: stage.needs for name, stage in stages.items()}).static_order())
    jobs = {name: _job(name, stages[name], python, spec.requirements) for name in order}
    jobs["deploy"] = {
        "stage": "deploy",
        "image": f"python:{python}",
        "needs": list(order),
        "script": [deploy_command(spec.env, "SHIPYARD_DEPLOY_TOKEN")],
    }
    return {
        "workflow": {"rules": [{"if": f'$CI_COMMIT_BRANCH == "{spec.branch}"'}]},
        "stages": [*order, "deploy"],
        "variables": dict(spec.variables),
        **jobs,
    }
