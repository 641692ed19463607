"""``shipyard ci export github``: the written workflow is valid YAML with a job per stage (needs,
timeouts, commands and checks as steps) and a deploy job that calls Shipyard's API with the
deploy token from the repository's secrets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from shipyard.core.pipeline.workflow import github_workflow
from shipyard.manifest.loader import parse_manifest

MANIFEST: dict[str, Any] = {
    "app": "notes",
    "processes": {"web": {"command": "uvicorn app:app --port $PORT"}},
    "environments": {"dev": {"port": 18080}, "staging": {"port": 18081}},
    "pipeline": {
        "env": {"DATABASE_URL": "sqlite:///test.db"},
        "stages": {
            "lint": {"commands": ["ruff check ."], "timeout": "90s"},
            "test": {
                "needs": ["lint"],
                "commands": ["coverage run -m pytest --junitxml=junit.xml", "coverage json"],
                "coverage": {"min": "90%"},
                "tests": {},
                "checks": [{"name": "no-debug", "command": "! grep -rn breakpoint ."}],
            },
        },
    },
}


def export(tmp_path: Path, manifest: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "shipyard.yaml").write_text(yaml.safe_dump(manifest))
    argv = [sys.executable, "-m", "shipyard", "--app-dir", str(tmp_path), "--home", str(tmp_path / "h")]
    return subprocess.run(
        [*argv, "ci", "export", "github", *args], capture_output=True, text=True, check=False
    )


def test_the_exported_workflow_runs_the_stages_then_deploys_through_the_api(tmp_path: Path) -> None:
    done = export(tmp_path, MANIFEST, "--env", "staging", "--branch", "release")
    assert done.returncode == 0, done.stderr
    assert "SHIPYARD_DEPLOY_TOKEN" in done.stdout
    workflow = yaml.safe_load((tmp_path / ".github" / "workflows" / "shipyard.yml").read_text())
    assert workflow["on"] == {"push": {"branches": ["release"]}}
    assert workflow["env"] == {"DATABASE_URL": "sqlite:///test.db"}
    jobs = workflow["jobs"]
    assert list(jobs) == ["lint", "test", "deploy"]
    assert jobs["lint"]["timeout-minutes"] == 2 and "needs" not in jobs["lint"]
    assert jobs["test"]["needs"] == ["lint"] and jobs["test"]["timeout-minutes"] == 10
    assert jobs["test"]["name"] == "test (gates: coverage, tests, check no-debug)"
    runs = [step.get("run") for step in jobs["test"]["steps"]]
    assert runs[2:] == [
        "pip install -r requirements.txt",
        "coverage run -m pytest --junitxml=junit.xml",
        "coverage json",
        "! grep -rn breakpoint .",
    ]
    deploy = jobs["deploy"]
    assert deploy["needs"] == ["lint", "test"]
    step = deploy["steps"][0]
    assert step["env"]["SHIPYARD_TOKEN"] == "${{ secrets.SHIPYARD_DEPLOY_TOKEN }}"
    assert step["env"]["SHIPYARD_URL"] == "${{ vars.SHIPYARD_URL }}"
    assert '"$SHIPYARD_URL/api/deploy"' in step["run"] and """-d '{"env": "staging"}'""" in step["run"]
    assert "Authorization: Bearer $SHIPYARD_TOKEN" in step["run"]


@pytest.mark.parametrize(
    ("args", "change", "message"),
    [
        (("--env", "prod"), {}, "--env: 'prod' is not an environment"),
        ((), {"pipeline": None}, "has no pipeline to export"),
    ],
)
def test_export_refuses_with_a_clear_error(
    tmp_path: Path, args: tuple[str, ...], change: dict[str, Any], message: str
) -> None:
    done = export(tmp_path, {**MANIFEST, **change}, *args)
    assert done.returncode != 0
    assert message in done.stderr


def test_a_stage_named_deploy_clashes_with_the_deploy_job() -> None:
    spec = parse_manifest({**MANIFEST, "pipeline": {"stages": {"deploy": {"commands": ["true"]}}}}).pipeline
    assert spec is not None
    with pytest.raises(ValueError, match="clashes with the exported workflow's deploy job"):
        github_workflow("notes", spec.stages, {}, "dev", "main", "3.11", None)
