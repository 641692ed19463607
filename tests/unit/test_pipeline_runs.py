"""A pipeline run on real processes (the local workbench, /bin/sh): stages in parallel by their
needs, a stage killed at its timeout, a skipped stage, a custom check, the stages' variables
(plain configuration, never a secret), the output sent to the log sink, and the verdict that
then refuses the release."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml
from tests.unit.fakes import FakeBuilder, FakeProber, FakeProxy, FakeRuntime, fake_data_drivers

from shipyard.core.records import Owner, Release
from shipyard.drivers.pipeline.workbench import LocalWorkbench
from shipyard.engine.context import Context
from shipyard.engine.engine import Engine
from shipyard.engine.pipeline.runs import PipelineFailed, Pipelines
from shipyard.errors import ConflictError
from shipyard.home import Paths
from shipyard.manifest.loader import load_manifest
from shipyard.runtime import wire_services
from shipyard.state.store import open_store

STAGES = {
    "prepare": {
        "commands": ["echo stage-prepare-says-hi", "echo made > made.txt"],
        "checks": [{"name": "made", "command": "test -f made.txt"}],
    },
    "slow": {"needs": ["prepare"], "commands": ["sleep 5"], "timeout": "500ms"},
    "config": {
        "needs": ["prepare"],
        "commands": ['test "$GREETING" = hello', 'test -z "${API_KEY:-}"', 'test "$EXTRA" = yes'],
    },
    "after-slow": {"needs": ["slow"], "commands": ["true"]},
}


class Sink:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, str, bytes]] = []

    def add_lines(self, env: str, release: str, instance: str, stream: str, lines: list[bytes]) -> None:
        self.lines += [(env, release, instance, line) for line in lines]


def make(tmp_path: Path, stages: Mapping[str, object]) -> Context:
    app, home = tmp_path / "app", tmp_path / "home"
    app.mkdir()
    home.mkdir()
    manifest = {
        "app": "notes",
        "processes": {"web": {"command": "python -m notes"}},
        "environments": {"dev": {"port": 18080}},
        "config": {"GREETING": "hello", "API_KEY": "#{ApiKey}#"},
        "pipeline": {"environment": "dev", "env": {"EXTRA": "yes"}, "stages": stages},
    }
    (app / "shipyard.yaml").write_text(yaml.safe_dump(manifest))
    ctx = Context(
        paths=Paths(home, app),
        store=open_store(home / "state.db"),
        proxy=FakeProxy(),
        runtime=FakeRuntime(),
        builder=FakeBuilder(home / "releases"),
        prober=FakeProber(),
        owner=Owner(1, 0.0),
        manifest=load_manifest(app / "shipyard.yaml"),
        manifest_text="",
    )
    snapshot = home / "releases" / "r1"
    (snapshot / "app").mkdir(parents=True)
    (snapshot / "app" / "app.py").write_text("print('hi')\n")
    (snapshot / "app").chmod(0o555)  # read-only, as the builder leaves it
    (snapshot / "venv").symlink_to(Path(sys.prefix))
    release = Release("r1", 1, time.time(), "c", "d", str(snapshot), "", str(app))
    ctx.store.add_release(release)
    return ctx


def test_a_run_orders_stages_kills_a_slow_one_and_refuses_the_release(tmp_path: Path) -> None:
    ctx = make(tmp_path, STAGES)
    sink = Sink()
    lines: list[str] = []
    pipelines = Pipelines(ctx, LocalWorkbench(ctx.paths.home / "pipelines"), sink)
    with pytest.raises(PipelineFailed) as caught:
        pipelines.run("r1", "ana", "api", lines.append)
    assert "at stage slow: stage slow: commands[0] `sleep 5` was stopped at the stage's timeout (0.5s)" in (
        caught.value.message
    )
    assert "`shipyard pipeline run r1`" in caught.value.hint
    run = pipelines.show(1)
    status = {s["name"]: s["status"] for s in run["stages"]}
    assert status == {"prepare": "passed", "slow": "failed", "config": "passed", "after-slow": "skipped"}
    assert run["status"] == "failed" and run["failed_stage"] == "slow"
    prepare = next(s for s in run["stages"] if s["name"] == "prepare")
    assert prepare["gates"][0]["gate"] == "check:made" and prepare["gates"][0]["ok"]
    # slow and config ran side by side: config started before slow ended
    assert lines.index("stage config started") < lines.index(
        next(x for x in lines if x.startswith("stage slow failed"))
    )
    assert ("dev", "r1", "pipeline-1-prepare", b"stage-prepare-says-hi") in [
        (e, r, i, line) for e, r, i, line in sink.lines
    ]
    assert not (ctx.paths.home / "pipelines" / "run-1").exists()  # the scratch copy is removed
    with pytest.raises(ConflictError, match="its pipeline run 1 failed at stage slow"):
        pipelines.check_deployable("r1", "dev")


def test_a_failed_check_names_its_command_and_a_passed_run_lets_the_release_deploy(tmp_path: Path) -> None:
    stages = {"verify": {"checks": [{"name": "marker", "command": "echo missing marker; exit 3"}]}}
    ctx = make(tmp_path, stages)
    pipelines = Pipelines(ctx, LocalWorkbench(ctx.paths.home / "pipelines"))
    with pytest.raises(
        PipelineFailed,
        match=r"check marker \(`echo missing marker; exit 3`\) exit 3, it must exit 0: missing marker",
    ):
        pipelines.run("r1", "ana", "api")
    (ctx.paths.app_dir / "shipyard.yaml").write_text(
        (ctx.paths.app_dir / "shipyard.yaml").read_text().replace("exit 3", "exit 0")
    )
    done = pipelines.run("r1", "ana", "api")
    assert done == {"run": 2, "release": "r1", "status": "passed", "stages": ["verify"]}
    pipelines.check_deployable("r1", "dev")  # the latest run passed


def test_runs_a_stopped_control_plane_left_are_marked_interrupted(tmp_path: Path) -> None:
    ctx = make(tmp_path, {"only": {"commands": ["true"]}})
    store = ctx.store.pipelines
    run_id = store.create("r1", "r1", "dev", "ana", "api", ["only"])
    store.update_run(run_id, status="running", started_at=time.time())
    store.update_stage(run_id, "only", status="running", started_at=time.time())
    bench = LocalWorkbench(ctx.paths.home / "pipelines")
    (bench.folder(run_id) / "left").mkdir(parents=True)
    pipelines = Pipelines(ctx, bench)
    assert pipelines.interrupt_at_start() == [
        f"pipeline run {run_id} was cut short by a restart: marked interrupted"
    ]
    run = pipelines.show(run_id)
    assert run["status"] == "interrupted" and run["stages"][0]["status"] == "skipped"
    with pytest.raises(ConflictError, match=f"its pipeline run {run_id} interrupted"):
        pipelines.check_deployable("r1", "dev")
    assert not bench.folder(run_id).exists()
    assert pipelines.interrupt_at_start() == []


def test_the_engine_refuses_to_deploy_a_release_whose_pipeline_failed(tmp_path: Path) -> None:
    ctx = make(tmp_path, {"only": {"commands": ["exit 4"]}})
    engine = Engine(ctx, wire_services(ctx, data=fake_data_drivers()))
    with pytest.raises(ConflictError, match="has not passed the pipeline"):
        engine.deploy("dev", "ana", release_id="r1")
    with pytest.raises(PipelineFailed, match="commands\\[0\\] `exit 4` exited 4"):
        engine.pipelines.run("r1", "ana", "api")
    with pytest.raises(ConflictError, match="its pipeline run 1 failed at stage only") as caught:
        engine.deploy("dev", "ana", release_id="r1")
    assert "shipyard pipeline run r1" in caught.value.hint
    assert ctx.store.deployments("dev") == []  # refused before any deployment was recorded


def test_a_new_build_keeps_the_git_commit_of_its_source(tmp_path: Path) -> None:
    ctx = make(tmp_path, {"only": {"commands": ["true"]}})
    pipelines = Pipelines(ctx, LocalWorkbench(ctx.paths.home / "pipelines"))
    release = ctx.store.release("r1")
    assert pipelines.built(release) is True  # shipyard.yaml has a pipeline: the step runs
    assert ctx.store.pipelines.commits() == {}  # the source is no git checkout (yet)
    git = ["git", "-C", release.source, "-c", "user.name=dev", "-c", "user.email=dev@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first: the notes app"], check=True)
    sha = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    pipelines.built(release)
    kept = ctx.store.pipelines.commits()["r1"]
    assert (kept["commit"], kept["message"]) == (sha, "first: the notes app")
    assert abs(kept["committed_at"] - time.time()) < 60


def test_a_report_that_leads_out_of_the_stage_folder_fails_its_gate(tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text('{"totals": {"percent_covered": 100}}')
    stages = {"test": {"commands": [f"ln -s {outside} coverage.json"], "coverage": {"min": "90%"}}}
    ctx = make(tmp_path, stages)
    pipelines = Pipelines(ctx, LocalWorkbench(ctx.paths.home / "pipelines"))
    with pytest.raises(PipelineFailed, match=r"coverage gate: report coverage\.json leads out of"):
        pipelines.run("r1", "ana", "api")
