"""Pipeline stages' order (tables), the manifest's checks of ``pipeline:``, and the verdict on
whether a release may be deployed."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.core.pipeline.plan import check_graph, next_stages, outcome
from shipyard.core.pipeline.verdict import RunSummary, check_deployable
from shipyard.errors import ConflictError, ManifestError
from shipyard.manifest.loader import parse_manifest

NEEDS = {"lint": (), "test": ("lint",), "security": ("lint",), "package": ("test", "security")}


@pytest.mark.parametrize(
    ("status", "start", "skip"),
    [
        ({}, ["lint"], []),
        ({"lint": "running"}, [], []),
        ({"lint": "passed"}, ["test", "security"], []),  # both at once: in parallel
        ({"lint": "passed", "test": "passed", "security": "running"}, [], []),
        ({"lint": "passed", "test": "passed", "security": "passed"}, ["package"], []),
        ({"lint": "failed"}, [], ["test", "security"]),
        ({"lint": "passed", "test": "failed", "security": "running"}, [], ["package"]),
        ({"lint": "failed", "test": "skipped", "security": "skipped"}, [], ["package"]),
    ],
)
def test_next_stages(status: dict[str, str], start: list[str], skip: list[str]) -> None:
    assert next_stages(NEEDS, status) == (start, skip)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"a": "passed", "b": "passed"}, "passed"),
        ({"a": "passed", "b": "failed"}, "failed"),
        ({"a": "failed", "b": "skipped"}, "failed"),
        ({}, "failed"),
    ],
)
def test_outcome(status: dict[str, str], expected: str) -> None:
    assert outcome(status) == expected


def test_check_graph_orders_needs_first() -> None:
    order = check_graph(NEEDS)
    assert order.index("lint") < order.index("test") < order.index("package")


@pytest.mark.parametrize(
    ("needs", "message"),
    [
        ({"a": ("b",), "b": ("a",)}, "the needs form a cycle (a -> b -> a)"),
        ({"a": ("lnt",)}, "stages.a.needs: 'lnt' is not a stage of this pipeline"),
        ({"a": ("a",)}, "a stage cannot need itself"),
    ],
)
def test_check_graph_refuses(needs: dict[str, tuple[str, ...]], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        check_graph(needs)
    assert message in str(caught.value)


def manifest(pipeline: Any) -> dict[str, Any]:
    return {
        "app": "notes",
        "processes": {"web": {"command": "python app.py"}},
        "environments": {"dev": {"port": 8080}},
        "pipeline": pipeline,
    }


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        ({"stages": {}}, "stages is empty"),
        ({"stages": {"a": {}}}, "a stage needs `commands` or `checks`"),
        ({"stages": {"a": {"commands": ["x"], "needs": ["b"]}}}, "'b' is not a stage of this pipeline"),
        ({"stages": {"a": {"commands": ["x"], "coverage": {"min": 90}}}}, "has no unit"),
        (
            {"stages": {"a": {"commands": ["x"], "coverage": {"min": "90%", "report": "../c.json"}}}},
            "inside the stage",
        ),
        (
            {"stages": {"a": {"commands": ["x"], "security": {"report": "b.json", "fail_at": "bad"}}}},
            "fail_at",
        ),
        ({"stages": {"a": {"commands": ["x"]}}, "environment": "prod"}, "unknown environment 'prod'"),
        ({"stages": {"a": {"commands": ["x"], "colour": 1}}}, "colour"),
    ],
)
def test_manifest_refuses_a_bad_pipeline_with_its_key_path(pipeline: Any, message: str) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(manifest(pipeline))
    assert message in caught.value.message
    assert "pipeline" in caught.value.message


def test_manifest_reads_a_pipeline() -> None:
    spec = parse_manifest(
        manifest({"stages": {"test": {"commands": ["pytest"], "coverage": {"min": "90%"}, "timeout": "5m"}}})
    ).pipeline
    assert spec is not None
    stage = spec.stages["test"]
    assert stage.coverage is not None and stage.coverage.min == pytest.approx(0.9)
    assert stage.coverage.report == "coverage.json" and stage.timeout == 300


@pytest.mark.parametrize(
    ("latest", "message", "hint"),
    [
        (None, "release r4 cannot go to staging: it has not passed the pipeline (no run yet)",
         "`shipyard pipeline run r4`"),
        (RunSummary(7, "r4", "failed", "test", "stage test: coverage 72.4% is below the minimum 90%"),
         "its pipeline run 7 failed at stage test: stage test: coverage 72.4% is below the minimum 90%",
         "rerun the pipeline with `shipyard pipeline run r4`"),
        (RunSummary(8, "r4", "running"), "its pipeline run 8 is running",
         "`shipyard pipeline show 8 --follow`"),
        (RunSummary(9, "r4", "interrupted", None, "cut short"), "run 9 interrupted: cut short",
         "pipeline run r4"),
    ],
)  # fmt: skip
def test_a_release_that_has_not_passed_is_refused(latest: RunSummary | None, message: str, hint: str) -> None:
    with pytest.raises(ConflictError) as caught:
        check_deployable("r4", "staging", True, latest)
    assert message in caught.value.message
    assert hint in caught.value.hint


def test_a_passed_release_or_no_pipeline_may_deploy() -> None:
    check_deployable("r4", "staging", True, RunSummary(3, "r4", "passed"))
    check_deployable("r4", "staging", False, None)
    check_deployable("r4", "staging", False, RunSummary(3, "r4", "failed", "test"))
