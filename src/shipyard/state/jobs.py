"""Jobs and their progress lines, in the state store's SQLite file.

The engine's job runner (``engine/jobs.py``) records a job when the API asks for it, marks it
running, appends its progress lines and records how it ended; the API and the CLI read them.
Each method is one transaction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, insert, select, update

from shipyard.core.jobs import ACTIVE, INTERRUPTED, QUEUED, RUNNING, Job
from shipyard.errors import NotFoundError
from shipyard.state.schema import job_progress, jobs


class JobStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, kind: str, env: str, args: dict[str, Any], by: str) -> Job:
        with self._engine.begin() as conn:
            job_id = conn.execute(
                insert(jobs).values(
                    kind=kind,
                    env=env,
                    args=json.dumps(args, sort_keys=True),
                    requested_by=by,
                    status=QUEUED,
                    created_at=time.time(),
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        return self.job(int(job_id))

    def start(self, job_id: int) -> None:
        self._set(job_id, status=RUNNING, started_at=time.time())

    def finish(
        self,
        job_id: int,
        status: str,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        hint: str | None = None,
    ) -> None:
        self._set(
            job_id,
            status=status,
            finished_at=time.time(),
            result=None if result is None else json.dumps(result, sort_keys=True),
            error=error,
            hint=hint,
        )

    def progress(self, job_id: int, message: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(insert(job_progress).values(job_id=job_id, at=time.time(), message=message))

    def lines(self, job_id: int, after: int = 0) -> list[dict[str, Any]]:
        """Progress lines of ``job_id`` after line id ``after``: ``{id, at, message}``."""
        query = (
            select(job_progress.c.id, job_progress.c.at, job_progress.c.message)
            .where(job_progress.c.job_id == job_id, job_progress.c.id > after)
            .order_by(job_progress.c.id)
        )
        with self._engine.begin() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def job(self, job_id: int) -> Job:
        with self._engine.begin() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"job {job_id} does not exist", "list jobs with `shipyard jobs list`")
        return Job.from_row(dict(row))

    def jobs(self, env: str | None = None, limit: int = 20) -> list[Job]:
        query = select(jobs).order_by(jobs.c.id.desc()).limit(limit)
        if env:
            query = query.where(jobs.c.env == env)
        with self._engine.begin() as conn:
            return [Job.from_row(dict(row)) for row in conn.execute(query).mappings()]

    def interrupt_active(self, explain: Callable[[Job], tuple[str, str]]) -> list[Job]:
        """Mark every queued or running job as interrupted, with ``explain``'s error and hint
        (at start: the control plane that ran them is gone). Returns them as they were."""
        with self._engine.begin() as conn:
            rows = conn.execute(select(jobs).where(jobs.c.status.in_(ACTIVE))).mappings().all()
            found = [Job.from_row(dict(row)) for row in rows]
            for job in found:
                error, hint = explain(job)
                conn.execute(
                    update(jobs)
                    .where(jobs.c.id == job.id)
                    .values(status=INTERRUPTED, finished_at=time.time(), error=error, hint=hint)
                )
        return found

    def _set(self, job_id: int, **values: Any) -> None:
        with self._engine.begin() as conn:
            conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))
