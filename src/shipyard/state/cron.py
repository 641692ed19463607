"""The history of scheduled jobs' runs (``cron_runs``), in the state store's SQLite file.

The cron scheduler (``engine/cron/scheduler.py``) records a run as it starts and how it ended;
the API and the CLI read the history; the alerting loop reads each job's latest run. Each
method is one transaction. The table is declared here, on the store's one ``metadata``.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)

from shipyard.core.cron_jobs import INTERRUPTED, RUNNING, CronRun
from shipyard.errors import NotFoundError
from shipyard.state.schema import metadata

cron_runs = Table(
    "cron_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("env", String, nullable=False),
    Column("job", String, nullable=False),
    Column("release_id", String, nullable=False),
    Column("trigger", String, nullable=False),
    Column("requested_by", String, nullable=False),
    Column("scheduled_at", Float),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("status", String, nullable=False),
    Column("exit_code", Integer),
    Column("output", Text, nullable=False, server_default=""),
    Index("ix_cron_runs_env_job", "env", "job"),
)


class CronStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def begin(
        self, env: str, job: str, release_id: str, trigger: str, by: str, scheduled_at: float | None
    ) -> CronRun:
        """Record a run as started now."""
        with self._engine.begin() as conn:
            run_id = conn.execute(
                insert(cron_runs).values(
                    env=env,
                    job=job,
                    release_id=release_id,
                    trigger=trigger,
                    requested_by=by,
                    scheduled_at=scheduled_at,
                    started_at=time.time(),
                    status=RUNNING,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        return self.run(int(run_id))

    def finish(self, run_id: int, status: str, exit_code: int | None, output: str) -> CronRun:
        self._set(run_id, status=status, exit_code=exit_code, output=output, finished_at=time.time())
        return self.run(run_id)

    def run(self, run_id: int) -> CronRun:
        with self._engine.begin() as conn:
            row = conn.execute(select(cron_runs).where(cron_runs.c.id == run_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"cron run {run_id} does not exist", "see `shipyard cron history`")
        return CronRun.from_row(dict(row))

    def runs(self, env: str, job: str | None = None, limit: int = 20) -> list[CronRun]:
        """The newest runs first."""
        query = select(cron_runs).where(cron_runs.c.env == env).order_by(cron_runs.c.id.desc()).limit(limit)
        if job is not None:
            query = query.where(cron_runs.c.job == job)
        with self._engine.begin() as conn:
            return [CronRun.from_row(dict(row)) for row in conn.execute(query).mappings()]

    def latest(self, env: str, finished_only: bool = False) -> dict[str, CronRun]:
        """Each job's newest run in ``env`` (finished ones only, if asked)."""
        query = select(func.max(cron_runs.c.id)).where(cron_runs.c.env == env)
        if finished_only:
            query = query.where(cron_runs.c.status != RUNNING)
        with self._engine.begin() as conn:
            ids = list(conn.execute(query.group_by(cron_runs.c.job)).scalars())
            rows = conn.execute(select(cron_runs).where(cron_runs.c.id.in_(ids))).mappings().all()
        return {row["job"]: CronRun.from_row(dict(row)) for row in rows}

    def last_fired(self) -> dict[tuple[str, str], float]:
        """The latest fire time each (env, job) ran for (where a restarted scheduler resumes)."""
        query = select(cron_runs.c.env, cron_runs.c.job, func.max(cron_runs.c.scheduled_at)).group_by(
            cron_runs.c.env, cron_runs.c.job
        )
        with self._engine.begin() as conn:
            return {(env, job): at for env, job, at in conn.execute(query) if at is not None}

    def interrupt_running(self) -> int:
        """At start: runs left running by a stopped control plane are marked interrupted."""
        with self._engine.begin() as conn:
            done = conn.execute(
                update(cron_runs)
                .where(cron_runs.c.status == RUNNING)
                .values(status=INTERRUPTED, finished_at=time.time(), output="the control plane stopped")
            )
        return int(done.rowcount)

    def _set(self, run_id: int, **values: Any) -> None:
        with self._engine.begin() as conn:
            conn.execute(update(cron_runs).where(cron_runs.c.id == run_id).values(**values))
