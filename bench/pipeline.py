"""Pipeline benchmark: from ``git push`` to the new release serving in dev, warm dependency cache.

Starts a private Shipyard (control plane, HAProxy, the notes example) in a temporary folder
with ``triggers.branches: {main: dev}`` and a pipeline (an import check, then the app's tests
with pytest and a JUnit gate), makes the hosted repository (``shipyard git init``) and a
developer's checkout of the notes app with its tests. A first push of v1 builds the
dependencies into the cache (not timed); then v2 is committed and pushed, and
``push_to_live_s`` is the time from the start of ``git push`` to the first answer of v2 on
dev's public port (goal: under 60 s). ``push_s`` is how long the push itself took (the
pusher waits for the pipeline and the deployment, printed as ``remote:`` lines).

Progress goes to stderr; the last line of stdout is one JSON object. Traffic only goes to
127.0.0.1. Everything is torn down at the end.

    .venv/bin/python bench/pipeline.py
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench folder is not a package
from zero_downtime import HOST, BenchError, ControlPlane, free_port, log, prepare_app, use_version

GOAL_S = 60.0
APP_TESTS = """
import app


def test_the_app_has_a_version():
    assert app.VERSION


def test_db_path_reads_database_url(monkeypatch):
    monkeypatch.delenv("NOTES_DB", raising=False)
    monkeypatch.setenv("DATABASE_URL", "sqlite:////data/notes.db")
    assert app.db_path() == "/data/notes.db"
"""
PIPELINE = {
    "stages": {
        "lint": {"checks": [{"name": "imports", "command": "python -c 'import app'"}]},
        "test": {
            "needs": ["lint"],
            "commands": ["python -m pytest -q -p no:cacheprovider --junitxml=junit.xml tests"],
            "tests": {"report": "junit.xml", "min_tests": 2},
        },
    }
}


def git(folder: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    base = ["git", "-C", str(folder), "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    done = subprocess.run([*base, *args], capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise BenchError(f"git {' '.join(args)} failed: {done.stderr.strip()[-2000:]}")
    return done


def configure(app_dir: Path) -> None:
    manifest = yaml.safe_load((app_dir / "shipyard.yaml").read_text())
    manifest["triggers"] = {"branches": {"main": "dev"}}
    manifest["pipeline"] = PIPELINE
    manifest["database"]["backups"]["schedule"] = None
    (app_dir / "shipyard.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))


def checkout(work: Path, version: str, message: str) -> None:
    use_version(work, version)
    with (work / "requirements.txt").open("a") as req:
        req.write("pytest\n")
    (work / "tests").mkdir(exist_ok=True)
    (work / "tests" / "test_app.py").write_text(APP_TESTS)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", message)


def serving(port: int) -> str | None:
    try:
        resp = httpx.get(f"http://{HOST}:{port}/", timeout=2, trust_env=False)
        return str(resp.json().get("version")) if resp.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def push_to_live(plane: ControlPlane, repo: Path, work: Path, port: int) -> dict[str, float]:
    checkout(work, "v2", "notes v2")
    started = time.monotonic()
    pushed = subprocess.Popen(
        ["git", "-C", str(work), "push", "-q", str(repo), "main"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    live = None
    while live is None and time.monotonic() - started < 300:
        version = serving(port)
        if version is not None and version.startswith("2"):
            live = time.monotonic() - started
        time.sleep(0.05)
    _out, err = pushed.communicate(timeout=300)
    push_s = time.monotonic() - started
    if pushed.returncode != 0 or live is None:
        raise BenchError(f"the push did not reach dev (exit {pushed.returncode}):\n{err[-3000:]}")
    log(err.strip())
    return {"push_to_live_s": round(live, 2), "push_s": round(push_s, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/shipyard-bench-cache"))
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="shipyard-bench-pipeline-"))
    port = free_port()
    plane = ControlPlane(root / "home", root / "app", args.cache_dir)
    try:
        prepare_app(plane.app_dir, port, 2)
        configure(plane.app_dir)
        plane.up(free_port())
        plane.cli("git", "init")
        repo = (plane.home / "git" / "notes.git").resolve()
        work = root / "work"
        work.mkdir()
        git(work, "init", "-q", "-b", "main")
        checkout(work, "v1", "notes v1")
        log("first push (v1): dependencies into the cache, not timed")
        git(work, "push", "-q", str(repo), "main")
        if serving(port) is None:
            raise BenchError("v1 is not serving after the first push")
        log("timed push (v2)")
        figures: dict[str, Any] = push_to_live(plane, repo, work, port)
        figures["goal_s"] = GOAL_S
        figures["within_goal"] = figures["push_to_live_s"] < GOAL_S
    finally:
        try:
            plane.down()
        finally:
            shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
