"""Scheduled jobs' pure decisions (``core/cron_jobs.py``) on a fake clock, their manifest keys,
and the scheduler over the in-memory fakes (``FakeRuntime``): due and missed runs, the starting
deadline, ``forbid``, nothing run where nothing is deployed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from tests.unit.fakes import FakeProber, fake_data_drivers
from tests.unit.test_engine_fakes import MANIFEST, deploy, fakes, make_ctx

from shipyard.core.cron_jobs import CronRun, due_fire_time, failing, may_start, outcome, too_late
from shipyard.engine.context import Context
from shipyard.engine.cron.scheduler import CronScheduler
from shipyard.engine.data.backups import BackupService
from shipyard.engine.data.database import AppDatabases
from shipyard.errors import ConflictError, ManifestError, NotFoundError
from shipyard.manifest.loader import parse_manifest

EVERY_2S = "* * * * * */2"
HOURLY = "0 * * * *"
T0 = 1_800_000_000.0  # a whole hour (divisible by 3600)


@pytest.mark.parametrize(
    ("schedule", "last", "now", "due"),
    [
        (EVERY_2S, T0, T0 + 1, None),  # not fired since
        (EVERY_2S, T0, T0 + 2, T0 + 2),
        (EVERY_2S, T0, T0 + 2.5, T0 + 2),
        (EVERY_2S, T0, T0 + 11, T0 + 10),  # five fire times passed: one run, for the latest
        (HOURLY, T0 - 10, T0 + 3 * 3600 + 5, T0 + 3 * 3600),  # down three hours: once
        (HOURLY, T0, T0 + 3599, None),
    ],
)
def test_a_job_is_due_once_for_the_latest_fire_time(
    schedule: str, last: float, now: float, due: float | None
) -> None:
    assert due_fire_time(schedule, last, now) == due


@pytest.mark.parametrize(
    ("fire", "now", "deadline", "late"),
    [(T0, T0 + 30, None, False), (T0, T0 + 30, 60.0, False), (T0, T0 + 61, 60.0, True)],
)
def test_the_starting_deadline_skips_a_fire_time_that_old(
    fire: float, now: float, deadline: float | None, late: bool
) -> None:
    assert too_late(fire, now, deadline) is late


@pytest.mark.parametrize(
    ("concurrency", "running", "starts"),
    [("forbid", 0, True), ("forbid", 1, False), ("allow", 0, True), ("allow", 3, True)],
)
def test_concurrency(concurrency: str, running: int, starts: bool) -> None:
    assert may_start(concurrency, running) is starts


def run(job: str, status: str) -> CronRun:
    return CronRun(1, "dev", job, "r1", "schedule", "cron", T0, T0, T0 + 1, status, None, "")


def test_outcomes_and_the_failing_metric() -> None:
    assert [outcome(0), outcome(3), outcome(None)] == ["succeeded", "failed", "timed_out"]
    latest = {"a": run("a", "failed"), "b": run("b", "timed_out"), "c": run("c", "succeeded")}
    assert failing(latest) == 2
    assert failing({"d": run("d", "interrupted")}) == 0  # a stopped control plane, not the job


def manifest(**jobs: Any) -> dict[str, Any]:
    return {**MANIFEST, "jobs": jobs}


@pytest.mark.parametrize(
    ("jobs", "message"),
    [
        ({"r": {"command": "x", "schedule": "* * *"}}, "jobs.r.schedule"),
        ({"r": {"command": "x", "schedule": "* * * * * 99"}}, "6 fields the last is seconds"),
        ({"r": {"command": "x", "schedule": HOURLY, "environments": ["prod"]}}, "unknown environment 'prod'"),
        ({"r": {"command": "x", "schedule": HOURLY, "concurrency": "replace"}}, "jobs.r.concurrency"),
    ],
)
def test_bad_jobs_are_refused_with_their_key_path(jobs: dict[str, Any], message: str) -> None:
    with pytest.raises(ManifestError) as err:
        parse_manifest(manifest(**jobs))
    assert message in str(err.value) + str(err.value.hint)


def test_worker_counts_per_environment() -> None:
    data = {
        **MANIFEST,
        "processes": {
            "web": {"command": "w"},
            "queue": {"command": "q", "instances": 2, "environments": {"dev": 0}},
            "mail": {"command": "m"},
        },
    }
    assert parse_manifest(data).workers("dev") == {"queue": 0, "mail": 1}
    data["processes"]["web"] = {"command": "w", "environments": {"dev": 2}}  # type: ignore[index]
    with pytest.raises(ManifestError, match=r"processes\.web\.environments"):
        parse_manifest(data)


# the scheduler over the fakes, on a fake clock ------------------------------------------------


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def scheduler(tmp_path: Path, clock: Clock, **jobs: Any) -> tuple[Context, CronScheduler]:
    ctx = make_ctx(tmp_path, FakeProber())
    ctx.manifest = parse_manifest(manifest(**jobs))
    databases = AppDatabases(ctx, BackupService(ctx, fake_data_drivers()).engines.clusters)
    return ctx, CronScheduler(ctx, databases, clock=clock)


def settled(ctx: Context, count: int) -> list[CronRun]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        runs = ctx.store.cron.runs("dev")
        if len(runs) >= count and all(r.status != "running" for r in runs):
            return runs
        time.sleep(0.01)
    raise AssertionError(f"{count} finished runs expected, got {ctx.store.cron.runs('dev')}")


def test_runs_follow_the_schedule_only_where_a_release_serves(tmp_path: Path) -> None:
    clock = Clock(T0 + 0.5)
    ctx, cron = scheduler(tmp_path, clock, tick={"command": "echo tick", "schedule": EVERY_2S})
    runtime, _, _ = fakes(ctx)
    cron._tick()  # first sight: waits for the next fire time
    clock.now = T0 + 2.1
    cron._tick()
    assert ctx.store.cron.runs("dev") == []  # nothing deployed: nothing runs
    deploy(ctx)
    clock.now = T0 + 4.2
    cron._tick()
    cron._tick()  # the same fire time: not again
    [done] = settled(ctx, 1)
    assert (done.trigger, done.scheduled_at, done.status, done.release_id) == (
        "schedule",
        T0 + 4,
        "succeeded",
        "r1",
    )
    one = runtime.one_offs[-1]
    assert (one.name, one.command, one.release.id) == ("cron-tick", "echo tick", "r1")
    assert one.variables["SHIPYARD_RELEASE"] == "r1"  # the release's environment


def restarted(tmp_path: Path, clock: Clock, since: float) -> tuple[Context, CronScheduler]:
    """A scheduler that ran once at T0 + 2, then a new one started at ``since`` (the control
    plane restarted), which has read the history back as ``start()`` does."""
    clock.now = T0 + 0.5
    ctx, cron = scheduler(tmp_path, clock, tick={"command": "echo tick", "schedule": EVERY_2S})
    deploy(ctx)
    cron._tick()
    clock.now = T0 + 2.1
    cron._tick()
    settled(ctx, 1)
    databases = AppDatabases(ctx, BackupService(ctx, fake_data_drivers()).engines.clusters)
    again = CronScheduler(ctx, databases, clock=clock)
    again._last = ctx.store.cron.last_fired()
    again.since = since
    return ctx, again


def test_a_restarted_scheduler_runs_a_missed_job_once(tmp_path: Path) -> None:
    clock = Clock(T0)
    ctx, again = restarted(tmp_path, clock, since=T0 + 30.3)  # down for 14 fire times
    clock.now = T0 + 30.3
    again._tick()
    missed = settled(ctx, 2)[0]
    assert (missed.trigger, missed.scheduled_at) == ("missed", T0 + 30)


def test_the_missed_run_is_run_even_when_the_first_tick_comes_after_a_new_fire_time(
    tmp_path: Path,
) -> None:
    clock = Clock(T0)
    ctx, again = restarted(tmp_path, clock, since=T0 + 9.9)  # started after 3 missed fire times ...
    clock.now = T0 + 10.3  # ... and first ticked after a new one (T0 + 10), on a busy machine
    again._tick()
    missed = settled(ctx, 2)[0]
    assert (missed.trigger, missed.scheduled_at) == ("missed", T0 + 8)
    clock.now = T0 + 10.8
    again._tick()
    newest = settled(ctx, 3)[0]
    assert (newest.trigger, newest.scheduled_at) == ("schedule", T0 + 10)


def test_a_missed_run_past_its_starting_deadline_is_skipped(tmp_path: Path) -> None:
    clock = Clock(T0 + 0.5)
    job = {"command": "echo", "schedule": EVERY_2S, "starting_deadline": "1s"}
    ctx, cron = scheduler(tmp_path, clock, tick=job)
    deploy(ctx)
    cron._last[("dev", "tick")] = T0
    clock.now = T0 + 3.5  # the latest fire time, T0 + 2, is 1.5 s old
    cron._tick()
    assert ctx.store.cron.runs("dev") == []
    assert "past starting_deadline" in cron.loop.errors[-1].message


def test_run_now_refuses_an_unknown_job_a_running_one_and_an_empty_environment(tmp_path: Path) -> None:
    clock = Clock(T0)
    ctx, cron = scheduler(tmp_path, clock, tick={"command": "echo", "schedule": HOURLY})
    with pytest.raises(ConflictError, match="nothing is deployed"):
        cron.run_now("dev", "tick", "alice")
    with pytest.raises(NotFoundError, match="does not run in dev"):
        cron.run_now("dev", "nojob", "alice")
    deploy(ctx)
    cron.runner._running[("dev", "tick")] = 1  # a run still going
    with pytest.raises(ConflictError, match="already running"):
        cron.run_now("dev", "tick", "alice")
    cron.runner._running[("dev", "tick")] = 0
    fakes(ctx)[0].exit_code = 2
    cron.run_now("dev", "tick", "alice")
    [failed] = settled(ctx, 1)
    assert (failed.trigger, failed.requested_by, failed.status, failed.exit_code) == (
        "manual",
        "alice",
        "failed",
        2,
    )
    assert cron.failing("dev", T0) == 1.0
