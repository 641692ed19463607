"""Pipelines on the notes example app with real tools: pytest, coverage.py and bandit, installed
into the release's own virtualenv from its requirements; the stages run as real processes.

A deployment of a new build runs the pipeline as its ``pipeline`` step: a coverage gate below
its minimum fails it before anything starts, and the same release is then refused by
``shipyard deploy --release`` with the stage and how to rerun. With the threshold met, ``shipyard
pipeline run`` passes (lint first, then test and security in parallel), the release deploys,
the stages' output is in the central logs, and ``shipyard stats`` counts both deployments with
the lead time taken from the git commit.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from tests.integration.conftest import Shipyard

pytestmark = pytest.mark.integration

APP_TESTS = """
import os

import app


def test_db_path_prefers_notes_db(monkeypatch):
    monkeypatch.setenv("NOTES_DB", "/tmp/x.db")
    assert app.db_path() == "/tmp/x.db"


def test_db_path_reads_database_url(monkeypatch):
    monkeypatch.delenv("NOTES_DB", raising=False)
    monkeypatch.setenv("DATABASE_URL", "sqlite:////data/notes.db")
    assert app.db_path() == "/data/notes.db"


def test_the_stage_gets_the_pipeline_environment():
    assert os.environ["CI"] == "true"
    assert os.environ["PIPELINE_MARK"] == "from-pipeline-env"
    assert os.environ["SHIPYARD_STAGE"] == "test"
"""


def pipeline(coverage_min: str) -> dict[str, object]:
    return {
        "environment": "dev",
        "env": {"PIPELINE_MARK": "from-pipeline-env"},
        "stages": {
            "lint": {"checks": [{"name": "imports", "command": "python -c 'import app'"}]},
            "test": {
                "needs": ["lint"],
                "timeout": "5m",
                "commands": [
                    "coverage run --source=app -m pytest -q -p no:cacheprovider --junitxml=junit.xml tests",
                    "coverage json -o coverage.json",
                ],
                "coverage": {"min": coverage_min},
                "tests": {"report": "junit.xml", "min_tests": 3},
            },
            "security": {
                "needs": ["lint"],
                "commands": ["bandit -q -r app.py -f json -o bandit.json || true"],
                "security": {"report": "bandit.json", "tool": "bandit", "fail_at": "high"},
            },
        },
    }


def commit_app(folder: Path) -> float:
    """Make the app folder a git checkout with one commit; its commit time."""
    git = ["git", "-C", str(folder), "-c", "user.name=dev", "-c", "user.email=dev@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "notes with tests"], check=True)
    done = subprocess.run([*git, "log", "-1", "--format=%ct"], check=True, capture_output=True, text=True)
    return float(done.stdout.strip())


def test_a_pipeline_gates_deployments_of_the_example_app(shipyard: Shipyard) -> None:
    (shipyard.app / "tests").mkdir()
    (shipyard.app / "tests" / "test_app.py").write_text(APP_TESTS)
    requirements = shipyard.app / "requirements.txt"
    requirements.write_text(requirements.read_text() + "pytest==9.2.0\ncoverage==7.18.0\nbandit==1.9.4\n")
    shipyard.manifest["pipeline"] = pipeline("95%")
    shipyard.write_manifest()
    commit_app(shipyard.app)
    shipyard.up()

    # a new build fails its pipeline step: nothing starts, the message names stage, figure, threshold
    failed = shipyard.cli("deploy", "dev", check=False, timeout=600)
    said = failed.stdout + failed.stderr
    assert failed.returncode != 0, said
    assert "failed its pipeline (run 1) at stage test: stage test: coverage" in said
    assert "is below the minimum 95% (coverage.json)" in said
    assert "shipyard pipeline run r1" in said
    assert shipyard.status()["active_release"] is None

    with shipyard.api() as api:
        run = api.get("/api/pipelines/1").json()
    stages = {s["name"]: s for s in run["stages"]}
    assert (run["status"], run["failed_stage"], run["trigger"]) == ("failed", "test", "deploy")
    assert stages["lint"]["status"] == stages["security"]["status"] == "passed"
    gates = {g["gate"]: g for g in stages["test"]["gates"]}
    assert gates["tests"]["ok"] and gates["tests"]["figure"].startswith("3 tests, 0 failed")
    assert not gates["coverage"]["ok"]
    assert stages["security"]["gates"][0]["figure"].startswith("0 at or above high")  # bandit's real JSON
    assert "passed" in stages["test"]["output"]  # pytest's summary line, kept with the result

    # the release that failed cannot be deployed; the error names the stage and how to rerun
    refused = shipyard.cli("deploy", "dev", "--release", "r1", check=False)
    assert refused.returncode != 0
    assert "release r1 cannot go to dev: its pipeline run 1 failed at stage test" in refused.stderr
    assert "shipyard pipeline run r1" in refused.stderr
    shown = shipyard.cli("pipeline", "show", "1", check=False)
    assert shown.returncode == 1 and "coverage" in shown.stdout and "FAILED" in shown.stdout

    # with a threshold the tests meet, a rerun passes and the same release deploys
    shipyard.manifest["pipeline"] = pipeline("20%")
    shipyard.write_manifest()
    passed = shipyard.cli("pipeline", "run", "r1", timeout=600)
    assert "stage test passed" in passed.stderr and "stage security passed" in passed.stderr
    assert "run    2" in passed.stdout
    shipyard.cli("deploy", "dev", "--release", "r1", timeout=300)
    assert shipyard.serving()["version"] == "1.0.0"

    # every stage's output is in the central logs of the run's environment
    with shipyard.api() as api:
        deadline = time.monotonic() + 20
        while True:
            lines = api.get("/api/logs/dev", params={"grep": "3 passed"}).json()["lines"]
            if lines or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert any(line["instance"].startswith("pipeline-") for line in lines), lines

    # delivery figures: two changes, one succeeded; lead time from the git commit
    stats = shipyard.cli("stats", "dev", "--since", "1d").stdout
    assert "success rate           50.0% (1 of 2 changes)" in stats
    assert "from commit" in stats
    with shipyard.api() as api:
        figures = api.get("/api/stats/dev", params={"since": 86400}).json()
        metrics = api.get("/metrics").text
    assert (figures["changes"], figures["succeeded"], figures["success_rate"]) == (2, 1, 0.5)
    assert figures["lead_time_from"] == "commit" and figures["lead_time"] > 0
    assert json.dumps(figures)  # the answer is plain JSON
    assert "shipyard_deploy_success_ratio" in metrics
