"""``shipyard ci export github|gitlab``: the written workflow is valid YAML with a job per stage (needs,
timeouts, commands and checks as steps) and a deploy job that calls Shipyard's API with the
deploy token from the repository's secrets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from shipyard.core.pipeline.workflow import Export, github_workflow
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


def export(
    tmp_path: Path, manifest: dict[str, Any], *args: str, to: str = "github"
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "shipyard.yaml").write_text(yaml.safe_dump(manifest))
    argv = [sys.executable, "-m", "shipyard", "--app-dir", str(tmp_path), "--home", str(tmp_path / "h")]
    return subprocess.run([*argv, "ci", "export", to, *args], capture_output=True, text=True, check=False)


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
        github_workflow("notes", Export(spec.stages, {}, "dev", "main", "3.11", None))


def test_the_exported_gitlab_ci_runs_the_stages_in_order_then_deploys(tmp_path: Path) -> None:
    stages = {"audit": {"commands": ["pip-audit"]}, **MANIFEST["pipeline"]["stages"]}
    stages["test"] = {**stages["test"], "needs": ["lint", "audit"]}
    manifest = {**MANIFEST, "pipeline": {**MANIFEST["pipeline"], "stages": stages}}
    done = export(tmp_path, manifest, "--env", "staging", "--branch", "release", to="gitlab")
    assert done.returncode == 0, done.stderr
    assert "SHIPYARD_DEPLOY_TOKEN" in done.stdout and "CI/CD" in done.stdout
    ci = yaml.safe_load((tmp_path / ".gitlab-ci.yml").read_text())
    assert ci["workflow"] == {"rules": [{"if": '$CI_COMMIT_BRANCH == "release"'}]}
    assert ci["variables"] == {"DATABASE_URL": "sqlite:///test.db"}
    order = ci["stages"]
    assert order[-2:] == ["test", "deploy"] and set(order[:2]) == {"audit", "lint"}
    assert ci["lint"]["needs"] == [] and ci["lint"]["timeout"] == "2 minutes"  # starts at once
    test = ci["test"]
    assert test["stage"] == "test" and sorted(test["needs"]) == ["audit", "lint"]
    assert test["timeout"] == "10 minutes" and test["image"].startswith("python:3.")
    assert test["script"] == [
        "pip install -r requirements.txt",
        "coverage run -m pytest --junitxml=junit.xml",
        "coverage json",
        "! grep -rn breakpoint .",
    ]
    assert test["variables"] == {"SHIPYARD_GATES": "coverage, tests, check no-debug"}
    deploy = ci["deploy"]
    assert deploy["stage"] == "deploy" and deploy["needs"] == order[:-1]
    (command,) = deploy["script"]
    assert '"$SHIPYARD_URL/api/deploy"' in command and """-d '{"env": "staging"}'""" in command
    assert "Authorization: Bearer $SHIPYARD_DEPLOY_TOKEN" in command


@pytest.mark.parametrize("name", ["deploy", "variables", "stages"])
def test_a_stage_named_like_a_gitlab_keyword_is_refused(tmp_path: Path, name: str) -> None:
    manifest = {**MANIFEST, "pipeline": {"stages": {name: {"commands": ["true"]}}}}
    done = export(tmp_path, manifest, to="gitlab")
    assert done.returncode != 0 and not (tmp_path / ".gitlab-ci.yml").exists()
    assert f"a stage named `{name}` clashes with a keyword of .gitlab-ci.yml" in done.stderr
