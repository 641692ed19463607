"""Jobs: the engine's runner on real threads and a real state store, and the interrupted hints."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tests.unit.test_backup_service import live_db, make_ctx
from tests.unit.wiring import backup_service

from shipyard.core.jobs import Job, Progress, interrupted_hint
from shipyard.engine.context import Context
from shipyard.engine.jobs import JobRunner
from shipyard.errors import BackupError, ShipyardError
from shipyard.state.store import open_store


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Context:
    monkeypatch.delenv("SHIPYARD_BACKUP_KEY", raising=False)
    return make_ctx(tmp_path)


def ended(ctx: Context, job_id: int) -> Job:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = ctx.store.jobs.job(job_id)
        if job.done:
            return job
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} did not end: {ctx.store.jobs.job(job_id)}")


def test_a_job_answers_at_once_runs_on_its_thread_and_keeps_progress_and_result(ctx: Context) -> None:
    release = threading.Event()
    started = threading.Event()

    def operation(progress: Progress) -> dict[str, Any]:
        progress("snapshot")
        started.set()
        release.wait(30)
        progress("upload 40%")
        return {"backup": {"id": "b-1"}}

    job = JobRunner(ctx).submit("backup.create", "dev", {"reason": "x"}, "dana", operation)
    assert job.status == "queued" and job.requested_by == "dana" and job.args == {"reason": "x"}
    assert started.wait(30)
    assert ctx.store.jobs.job(job.id).status == "running"  # the operation is still blocked
    release.set()
    done = ended(ctx, job.id)
    assert done.status == "succeeded" and done.result == {"backup": {"id": "b-1"}}
    assert done.started_at is not None and done.finished_at is not None
    lines = ctx.store.jobs.lines(job.id)
    assert [line["message"] for line in lines] == ["snapshot", "upload 40%"]
    assert ctx.store.jobs.lines(job.id, after=lines[0]["id"]) == lines[1:]
    assert lines[0]["at"] <= lines[1]["at"]


def test_a_failed_job_keeps_error_and_hint_and_its_failure_is_reported(ctx: Context) -> None:
    reported: list[ShipyardError] = []

    def operation(_progress: Progress) -> dict[str, Any]:
        raise BackupError("backup b-1 does not authenticate", "restore an older one")

    job = JobRunner(ctx).submit("backup.verify", "dev", {}, "dana", operation, reported.append)
    done = ended(ctx, job.id)
    assert (done.status, done.error, done.hint) == (
        "failed",
        "backup b-1 does not authenticate",
        "restore an older one",
    )
    assert [e.message for e in reported] == ["backup b-1 does not authenticate"]


def test_a_bug_in_an_operation_fails_the_job_instead_of_leaving_it_running(ctx: Context) -> None:
    def operation(_progress: Progress) -> dict[str, Any]:
        raise KeyError("s3cr3t-value")

    job = JobRunner(ctx).submit("drill.run", "dev", {}, "dana", operation)
    done = ended(ctx, job.id)
    assert done.status == "failed" and done.error == "internal error (KeyError)" and done.hint
    assert "s3cr3t" not in repr(done)  # a bug's text may hold anything: it is named by its type


def test_a_restart_marks_the_jobs_it_cut_short_interrupted_with_a_hint(ctx: Context, tmp_path: Path) -> None:
    jobs = ctx.store.jobs
    queued = jobs.create("migrate.up", "dev", {"direction": "up"}, "dana")
    running = jobs.create("backup.restore", "staging", {"from": "dev"}, "ada")
    jobs.start(running.id)
    finished = jobs.create("backup.create", "dev", {}, "dana")
    jobs.finish(finished.id, "succeeded", result={"backup": {}})
    ctx.store.close()
    ctx.store = open_store(ctx.paths.state_db)  # a new control plane on the same state

    said = JobRunner(ctx).interrupt_at_start()
    assert len(said) == 2
    for job_id in (queued.id, running.id):
        job = ctx.store.jobs.job(job_id)
        assert job.status == "interrupted" and job.finished_at is not None and job.error and job.hint
    assert "shipyard migrate up dev" in (ctx.store.jobs.job(queued.id).hint or "")
    assert "shipyard backup restore dev --target staging" in (ctx.store.jobs.job(running.id).hint or "")
    assert ctx.store.jobs.job(finished.id).status == "succeeded"
    audited = [(e.actor, e.action, e.env, e.result) for e in ctx.store.audit.entries()]
    assert audited == [("dana", "migrate.up", "dev", "error"), ("ada", "backup.restore", "staging", "error")]
    assert JobRunner(ctx).interrupt_at_start() == []


def test_a_backup_and_a_restore_report_their_steps_as_progress(ctx: Context) -> None:
    live_db(ctx)
    service = backup_service(ctx)
    runner = JobRunner(ctx)
    created = runner.submit(
        "backup.create",
        "dev",
        {},
        "dana",
        lambda p: {"backup": service.create("dev", "manual", "", p).to_json()},
    )
    done = ended(ctx, created.id)
    assert done.status == "succeeded", done
    backup_id = done.result["backup"]["id"] if done.result else None
    said = [line["message"] for line in ctx.store.jobs.lines(created.id)]
    assert (
        said[0].startswith("snapshot")
        and said[1].startswith(f"stored: {backup_id}")
        and "retention" in said[2]
    )

    restored = runner.submit(
        "backup.restore", "dev", {}, "ada", lambda p: service.restore("dev", "ada", backup_id, progress=p)
    )
    done = ended(ctx, restored.id)
    assert done.status == "succeeded" and done.result and done.result["restored"] == backup_id
    said = [line["message"] for line in ctx.store.jobs.lines(restored.id)]
    # each step's start, then its outcome; the last says which point was reached
    assert said[::2] == ["fetch", "safety-backup", "restore", "point"]
    assert said[1].startswith("fetch done:") and said[5].startswith("restore done:")


@pytest.mark.parametrize(
    ("kind", "env", "args", "command"),
    [
        ("backup.create", "dev", {}, "shipyard backup create dev"),
        ("backup.verify", "dev", {"backup": "b-1"}, "shipyard backup verify dev"),
        ("backup.restore", "dev", {"from": "dev"}, "shipyard backup restore dev`"),
        (
            "backup.restore.masked",
            "staging",
            {"from": "prod", "mask": True},
            "shipyard backup restore prod --target staging",
        ),
        ("drill.run", "dev", {}, "shipyard drill dev"),
        ("migrate.down", "dev", {"direction": "down"}, "shipyard migrate down dev"),
    ],
)
def test_an_interrupted_job_says_what_to_run(kind: str, env: str, args: dict[str, Any], command: str) -> None:
    job = Job(7, kind, env, args, "dana", "running", 0.0)
    error, hint = interrupted_hint(job)
    assert "job 7" in error and f"{kind} of {env}" in error
    assert command in hint
