"""Pipeline runs, their stages and the commit each release was built from, in state.db.

The pipeline service (``engine/pipeline/runs.py``) records a run with its stages waiting,
then each stage's start and result (status, detail, gate results, the last lines of its
output), then the run's outcome; the API and ``shipyard pipeline`` read them, and a
deployment asks for the latest run of its release's build. The build step records the git
commit of a release built from a checkout (``release_commits``), which ``shipyard stats``
reads for lead time. Each method is one transaction; the tables are created by migration 0009.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
    update,
)

from shipyard.core.pipeline.plan import WAITING
from shipyard.core.pipeline.verdict import RunSummary
from shipyard.errors import NotFoundError
from shipyard.state.schema import metadata

Row = dict[str, Any]
ACTIVE = ("queued", "running")

pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("release_id", String, ForeignKey("releases.id"), nullable=False),
    Column("build_id", String, nullable=False, index=True),
    Column("env", String, nullable=False),
    Column("status", String, nullable=False),
    Column("requested_by", String, nullable=False),
    Column("trigger", String, nullable=False),
    Column("job_id", Integer),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("failed_stage", String),
    Column("message", Text, nullable=False, server_default=""),
)

pipeline_stages = Table(
    "pipeline_stages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("pipeline_runs.id"), nullable=False),
    Column("name", String, nullable=False),
    Column("status", String, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("detail", Text, nullable=False, server_default=""),
    Column("gates", Text, nullable=False, server_default="[]"),
    Column("output", Text, nullable=False, server_default=""),
    UniqueConstraint("run_id", "name"),
)

release_commits = Table(
    "release_commits",
    metadata,
    Column("release_id", String, ForeignKey("releases.id"), primary_key=True),
    Column("commit", String, nullable=False),
    Column("committed_at", Float, nullable=False),
    Column("message", Text, nullable=False, server_default=""),
)


class PipelineStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(
        self, release_id: str, build_id: str, env: str, by: str, trigger: str, stages: list[str]
    ) -> int:
        """A queued run with its stages waiting."""
        with self._engine.begin() as conn:
            run_id = int(
                conn.execute(
                    insert(pipeline_runs).values(
                        release_id=release_id, build_id=build_id, env=env, status="queued",
                        requested_by=by, trigger=trigger, created_at=time.time(),
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
            )  # fmt: skip
            conn.execute(
                insert(pipeline_stages), [{"run_id": run_id, "name": s, "status": WAITING} for s in stages]
            )
        return run_id

    def update_run(self, run_id: int, **values: Any) -> None:
        with self._engine.begin() as conn:
            conn.execute(update(pipeline_runs).where(pipeline_runs.c.id == run_id).values(**values))

    def update_stage(self, run_id: int, name: str, **values: Any) -> None:
        if "gates" in values and not isinstance(values["gates"], str):
            values["gates"] = json.dumps(values["gates"], sort_keys=True)
        with self._engine.begin() as conn:
            conn.execute(
                update(pipeline_stages)
                .where(pipeline_stages.c.run_id == run_id, pipeline_stages.c.name == name)
                .values(**values)
            )

    def run(self, run_id: int) -> Row:
        """The run with its stages (gates decoded)."""
        with self._engine.begin() as conn:
            row = conn.execute(select(pipeline_runs).where(pipeline_runs.c.id == run_id)).mappings().first()
            if row is None:
                raise NotFoundError(
                    f"pipeline run {run_id} does not exist", "list runs with `shipyard pipeline list`"
                )
            stages = conn.execute(
                select(pipeline_stages)
                .where(pipeline_stages.c.run_id == run_id)
                .order_by(pipeline_stages.c.id)
            ).mappings()
            shown = [dict(s) | {"gates": json.loads(s["gates"] or "[]")} for s in stages]
        return dict(row) | {"stages": shown}

    def runs(self, limit: int, release_id: str | None = None) -> list[Row]:
        query = select(pipeline_runs).order_by(pipeline_runs.c.id.desc()).limit(limit)
        if release_id is not None:
            query = query.where(pipeline_runs.c.release_id == release_id)
        with self._engine.begin() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def latest(self, build_id: str) -> RunSummary | None:
        """The newest run of a build (any release of it)."""
        with self._engine.begin() as conn:
            row = (
                conn.execute(
                    select(pipeline_runs)
                    .where(pipeline_runs.c.build_id == build_id)
                    .order_by(pipeline_runs.c.id.desc())
                )
                .mappings()
                .first()
            )
        if row is None:
            return None
        return RunSummary(row["id"], row["release_id"], row["status"], row["failed_stage"], row["message"])

    def interrupt_active(self) -> list[int]:
        """Mark the runs a stopped control plane left queued or running as interrupted."""
        now = time.time()
        with self._engine.begin() as conn:
            ids = list(
                conn.execute(select(pipeline_runs.c.id).where(pipeline_runs.c.status.in_(ACTIVE))).scalars()
            )
            if ids:
                conn.execute(
                    update(pipeline_runs)
                    .where(pipeline_runs.c.id.in_(ids))
                    .values(
                        status="interrupted",
                        finished_at=now,
                        message="cut short by a restart of the control plane",
                    )
                )
                conn.execute(
                    update(pipeline_stages)
                    .where(
                        pipeline_stages.c.run_id.in_(ids),
                        pipeline_stages.c.status.in_(("waiting", "running")),
                    )
                    .values(status="skipped", finished_at=now)
                )
        return [int(i) for i in ids]

    # commits ---------------------------------------------------------------------------------------
    def set_commit(self, release_id: str, commit: str, committed_at: float, message: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                insert(release_commits)
                .values(release_id=release_id, commit=commit, committed_at=committed_at, message=message)
                .prefix_with("OR REPLACE")
            )

    def commits(self) -> dict[str, Row]:
        """Every recorded commit, by release."""
        with self._engine.begin() as conn:
            return {r["release_id"]: dict(r) for r in conn.execute(select(release_commits)).mappings()}
