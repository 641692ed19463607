"""``shipyard ci export github``: the pipeline's stages as a GitHub Actions workflow. Pure.

For teams that keep their CI: one job per stage (``needs`` as in shipyard.yaml, the stage's
timeout in whole minutes, the stage's commands and custom checks as steps, its variables from
``pipeline.env``), each on a checkout with the app's requirements installed; then a
``deploy`` job that asks Shipyard's API to deploy (``POST /api/deploy`` with a deploy token
from the repository's secrets, the URL from its variables). The report-based gates (coverage,
tests, security, audit) are judged by Shipyard when the deployment runs the pipeline on the
build; the workflow names them in each job's ``name`` so the team sees them. The result is a
mapping the CLI writes as YAML (``cli/ci.py``). ``gitlab_ci.py`` writes the same for GitLab CI
from the stage shape, gates and deploy command here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class CheckLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def command(self) -> str: ...


class StageLike(Protocol):
    """The fields of a stage the export reads (``manifest/pipeline.py`` ``Stage``)."""

    @property
    def commands(self) -> Sequence[str]: ...
    @property
    def needs(self) -> Sequence[str]: ...
    @property
    def timeout(self) -> float: ...
    @property
    def checks(self) -> Sequence[CheckLike]: ...
    @property
    def coverage(self) -> object | None: ...
    @property
    def tests(self) -> object | None: ...
    @property
    def security(self) -> object | None: ...
    @property
    def audit(self) -> object | None: ...


@dataclass(frozen=True)
class Export:
    """What an exported CI file is made of: the stages, their variables, the environment the
    deploy job deploys, the branch whose pushes run it, and the Python and requirements."""

    stages: Mapping[str, StageLike]
    variables: Mapping[str, str]
    env: str
    branch: str
    python: str
    requirements: str | None


def deploy_command(env: str, token_variable: str) -> str:
    """The shell command that asks Shipyard's API to deploy ``env`` (``$SHIPYARD_URL``, a token)."""
    body = f'{{"env": "{env}"}}'
    return (
        'curl --fail-with-body -sS -X POST "$SHIPYARD_URL/api/deploy" '
        f'-H "Authorization: Bearer ${token_variable}" -H "Content-Type: application/json" '
        f"-d '{body}'"
    )


def gates(stage: StageLike) -> list[str]:
    named = [g for g in ("coverage", "tests", "security", "audit") if getattr(stage, g) is not None]
    return named + [f"check {c.name}" for c in stage.checks]


def _job(name: str, stage: StageLike, python: str, requirements: str | None) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [
        {"uses": "actions/checkout@v4"},
        {"uses": "actions/setup-python@v5", "with": {"python-version": python}},
    ]
    if requirements:
        steps.append({"name": "install the app's requirements", "run": f"pip install -r {requirements}"})
    steps += [{"name": f"commands[{i}]", "run": command} for i, command in enumerate(stage.commands)]
    steps += [{"name": f"check {c.name}", "run": c.command} for c in stage.checks]
    named = gates(stage)
    job: dict[str, Any] = {
        "name": f"{name} (gates: {', '.join(named)})" if named else name,
        "runs-on": "ubuntu-latest",
        "timeout-minutes": max(1, math.ceil(stage.timeout / 60)),
        "steps": steps,
    }
    if stage.needs:
        job["needs"] = list(stage.needs)
    return job


def github_workflow(app: str, spec: Export) -> dict[str, Any]:
    """The workflow: a job per stage, then ``deploy`` of ``spec.env`` once every stage passed."""
    stages, env = spec.stages, spec.env
    jobs = {name: _job(name, stage, spec.python, spec.requirements) for name, stage in stages.items()}
    if "deploy" in jobs:
        raise ValueError("a stage named `deploy` clashes with the exported workflow's deploy job: rename it")
    jobs["deploy"] = {
        "name": f"deploy {env} through Shipyard",
        "runs-on": "ubuntu-latest",
        "needs": list(stages),
        "steps": [
            {
                "name": f"POST /api/deploy ({env})",
                "env": {
                    "SHIPYARD_URL": "${{ vars.SHIPYARD_URL }}",  # a repository variable
                    "SHIPYARD_TOKEN": "${{ secrets.SHIPYARD_DEPLOY_TOKEN }}",  # a deployer's token
                },
                "run": deploy_command(env, "SHIPYARD_TOKEN"),
            }
        ],
    }
    return {
        "name": f"{app} pipeline (exported by shipyard ci export github)",
        "on": {"push": {"branches": [spec.branch]}},
        "env": dict(spec.variables),
        "jobs": jobs,
    }
