"""``pipeline:`` in shipyard.yaml: named stages of commands and the gates on their results.

Each stage runs its commands in a scratch copy of the release's snapshot with the release's
virtualenv (``engine/pipeline/``), after the stages it ``needs``; then its gates read the
reports the commands wrote (``core/pipeline/gates.py``). The graph of ``needs`` is checked
here (``core/pipeline/plan.py``), so a cycle or an unknown stage is a load error.
"""

from __future__ import annotations

import posixpath
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from shipyard.core.pipeline.plan import check_graph
from shipyard.manifest.base import Model
from shipyard.manifest.checks import Duration, EnvVarName, EnvVarValue, Name
from shipyard.manifest.strategy import Percent


def _inside(value: str) -> str:
    """A report's path: relative to the stage's folder, and inside it."""
    normal = posixpath.normpath(value)
    if not value.strip() or value.startswith("/") or normal == ".." or normal.startswith("../"):
        raise ValueError(f"{value!r} must be a path inside the stage's folder, such as reports/coverage.json")
    return normal


ReportPath = Annotated[str, AfterValidator(_inside)]


class CoverageGate(Model):
    min: Percent = Field(description="Lowest total line coverage, e.g. `90%`.")
    report: ReportPath = Field(
        "coverage.json",
        description="coverage.py's report: `coverage json` (.json) or `coverage xml` (.xml).",
    )


class TestsGate(Model):
    report: ReportPath = Field("junit.xml", description="JUnit XML report (`pytest --junitxml=junit.xml`).")
    min_tests: int = Field(
        1, ge=0, description="Fewest tests that must have run; any failure or error fails."
    )


class SecurityGate(Model):
    report: ReportPath = Field(description="The scanner's JSON report, e.g. bandit.json.")
    tool: Literal["bandit", "ruff"] = Field(
        "bandit",
        description="`bandit` (`bandit -f json`) or `ruff` (`ruff check --select S --output-format json`).",
    )
    fail_at: Literal["low", "medium", "high"] = Field(
        "medium", description="Findings at or above this severity fail (ruff's count as high)."
    )


class AuditGate(Model):
    report: ReportPath = Field(
        "pip-audit.json",
        description="pip-audit's JSON report (`pip-audit -f json`); a package it did not check fails too.",
    )


class CheckGate(Model):
    name: Name = Field(description="The check's name in results and messages.")
    command: str = Field(min_length=1, description="Shell command that must exit 0 (run after the commands).")


class Stage(Model):
    commands: tuple[str, ...] = Field(
        (), description="Shell commands run one after another; one failing fails the stage."
    )
    needs: tuple[str, ...] = Field((), description="Stages that must pass before this one starts.")
    timeout: Duration = Field(600.0, gt=0, description="Longest the stage (commands and checks) may take.")
    coverage: CoverageGate | None = Field(None, description="Gate on coverage.py's report.")
    tests: TestsGate | None = Field(None, description="Gate on a JUnit XML report.")
    security: SecurityGate | None = Field(None, description="Gate on a security scan's findings.")
    audit: AuditGate | None = Field(None, description="Gate on pip-audit's report.")
    checks: tuple[CheckGate, ...] = Field((), description="Custom gates: commands that must exit 0.")

    @model_validator(mode="after")
    def _something(self) -> Stage:
        if not self.commands and not self.checks:
            raise ValueError("a stage needs `commands` or `checks`: give it something to run")
        return self


class Pipeline(Model):
    stages: dict[Name, Stage] = Field(description="The stages by name (`lint`, `test`, `security`...).")
    environment: Name | None = Field(
        None,
        description="Environment whose configuration the stages get (plain values only, never secrets).",
    )
    env: dict[EnvVarName, EnvVarValue] = Field(
        default_factory=dict, description="Extra environment variables of every stage."
    )

    @model_validator(mode="after")
    def _graph(self) -> Pipeline:
        if not self.stages:
            raise ValueError("stages is empty: define at least one, such as `test: {commands: [pytest]}`")
        check_graph({name: stage.needs for name, stage in self.stages.items()})
        return self
