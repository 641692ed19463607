"""The state store: every durable fact of the control plane, in one SQLite file.

Only the control plane's engine and API call this. Each public method is one
transaction, so a process killed at any line leaves either the old or the new
state, never half of each. The schema is migrated with Alembic on open.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, func, insert, select, update

from shipyard.core import records as r
from shipyard.errors import NotFoundError
from shipyard.state.approvals import ApprovalStore
from shipyard.state.audit import AuditStore
from shipyard.state.autoscale import AutoscaleStore
from shipyard.state.cron import CronStore
from shipyard.state.deployment_rows import begin, finish, finish_step, set_route, start_step
from shipyard.state.identity import IdentityStore
from shipyard.state.jobs import JobStore
from shipyard.state.maintenance import MaintenanceStore
from shipyard.state.observe import ObserveStore
from shipyard.state.pipelines import PipelineStore
from shipyard.state.private import make_private
from shipyard.state.schema import (
    analysis_checks,
    deployments,
    events,
    instances,
    locks,
    releases,
    rollout_samples,
    rollouts,
    routes,
    steps,
)
from shipyard.state.vault import VaultStore

Row = dict[str, Any]
AUTOCHECKPOINT_PAGES = 50_000  # about 200 MB of WAL, reached only with no checkpointer running


def open_store(path: Path) -> StateStore:
    """Open (creating and migrating as needed) the store at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=5000")
        # a commit would copy the WAL back into the file every 1000 pages, inside the request
        # that made it: the engine's checkpointer does it in the background (checkpoint());
        # the high threshold only bounds the WAL of a process that runs no checkpointer
        cur.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        cur.close()
        make_private(path)

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("shipyard.state") / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return StateStore(engine)


class StateStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.identity = IdentityStore(engine)
        self.audit = AuditStore(engine)
        self.vault = VaultStore(engine)
        self.approvals = ApprovalStore(engine)
        self.observe = ObserveStore(engine)
        self.jobs = JobStore(engine)
        self.cron = CronStore(engine)  # scheduled jobs' runs (not the long operations above)
        self.maintenance = MaintenanceStore(engine)
        self.pipelines = PipelineStore(engine)
        self.autoscale = AutoscaleStore(engine)  # desired web counts and the autoscaler's decisions

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self._engine.begin() as conn:
            yield conn

    def close(self) -> None:
        self._engine.dispose()

    def checkpoint(self) -> tuple[int, int]:
        """Copy committed WAL frames back into the database file without waiting for (or
        blocking) readers and writers (``PRAGMA wal_checkpoint(PASSIVE)``); returns the WAL's
        frames and how many of them are now in the file. Commits are durable in the WAL
        (synchronous=FULL) whether or not this has run."""
        with self._engine.connect() as conn:
            row = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        return int(row[1]), int(row[2])

    # releases -----------------------------------------------------------------------------
    def next_release_number(self) -> int:
        with self._tx() as conn:
            current = conn.execute(select(func.max(releases.c.number))).scalar()
        return int(current or 0) + 1

    def add_release(self, rel: r.Release) -> None:
        with self._tx() as conn:
            conn.execute(insert(releases).values(**rel.to_row()))

    def release(self, release_id: str) -> r.Release:
        with self._tx() as conn:
            row = conn.execute(select(releases).where(releases.c.id == release_id)).mappings().first()
        if row is None:
            raise NotFoundError(
                f"release {release_id!r} does not exist", "list releases with `shipyard releases`"
            )
        return r.Release.from_row(dict(row))

    def releases(self) -> list[r.Release]:
        with self._tx() as conn:
            rows = conn.execute(select(releases).order_by(releases.c.number.desc())).mappings()
            return [r.Release.from_row(dict(row)) for row in rows]

    # deployments, steps, events -------------------------------------------------------------
    def begin_deployment(self, dep: r.NewDeployment, owner: r.Owner) -> int:
        """Take the environment's lock and record a running deployment, in one transaction."""
        with self._tx() as conn:
            return begin(conn, dep, owner, time.time())

    def begin_switch(self, dep: r.NewDeployment, owner: r.Owner, route: r.Route) -> tuple[int, int]:
        """An instant rollback's start in one transaction (one commit): the environment's lock,
        a running deployment, its running ``switch`` step and the new route. Returns the
        deployment's and the step's ids."""
        now = time.time()
        with self._tx() as conn:
            dep_id = begin(conn, dep, owner, now)
            step_id = start_step(conn, dep_id, "switch", "", now)
            set_route(conn, route, now)
        return dep_id, step_id

    def finish_switch(self, dep_id: int, step_id: int, status: str, detail: str, hint: str = "") -> None:
        """An instant rollback's end in one transaction: its step ``ok`` (the deployment
        succeeded) or ``failed`` (the deployment failed with ``detail``), and the lock released."""
        now = time.time()
        outcome = "succeeded" if status == "ok" else "failed"
        with self._tx() as conn:
            finish_step(conn, dep_id, step_id, "switch", status, detail, now)
            finish(conn, dep_id, outcome, None if status == "ok" else detail, hint or None, now)

    def set_deployment_release(self, dep_id: int, release_id: str) -> None:
        with self._tx() as conn:
            conn.execute(update(deployments).where(deployments.c.id == dep_id).values(release_id=release_id))

    def finish_deployment(
        self, dep_id: int, status: str, error: str | None = None, hint: str | None = None
    ) -> None:
        """Record the outcome and release the environment's lock, in one transaction."""
        with self._tx() as conn:
            finish(conn, dep_id, status, error, hint, time.time())

    def deployment(self, dep_id: int) -> r.Deployment:
        with self._tx() as conn:
            row = conn.execute(select(deployments).where(deployments.c.id == dep_id)).mappings().first()
            if row is None:
                raise NotFoundError(
                    f"deployment {dep_id} does not exist",
                    "list deployments with `shipyard deployments`",
                )
            step_rows = conn.execute(
                select(steps).where(steps.c.deployment_id == dep_id).order_by(steps.c.id)
            ).mappings()
            dep = r.Deployment.from_row(dict(row), [dict(s) for s in step_rows])
        approval = self.approvals.row(dep_id)
        return replace(dep, approval=approval) if approval else dep

    def set_deployment_checksum(self, dep_id: int, checksum: str) -> None:
        with self._tx() as conn:
            conn.execute(update(deployments).where(deployments.c.id == dep_id).values(checksum=checksum))

    def deployments(self, env: str | None = None, limit: int = 20) -> list[r.Deployment]:
        query = select(deployments).order_by(deployments.c.id.desc()).limit(limit)
        if env:
            query = query.where(deployments.c.env == env)
        with self._tx() as conn:
            rows = [dict(row) for row in conn.execute(query).mappings()]
        return [self.deployment(int(row["id"])) for row in rows]

    def latest_deployments(self) -> dict[str, r.Deployment]:
        """Each environment's newest deployment in one read, without its steps or approval."""
        newest = select(func.max(deployments.c.id)).group_by(deployments.c.env)
        with self._tx() as conn:
            rows = conn.execute(select(deployments).where(deployments.c.id.in_(newest))).mappings()
            return {str(row["env"]): r.Deployment.from_row(dict(row), []) for row in rows}

    def running_deployments(self) -> list[r.Deployment]:
        with self._tx() as conn:
            ids = conn.execute(select(deployments.c.id).where(deployments.c.status == "running")).scalars()
            id_list = list(ids)
        return [self.deployment(int(i)) for i in id_list]

    def start_step(self, dep_id: int, name: str, detail: str = "") -> int:
        with self._tx() as conn:
            return start_step(conn, dep_id, name, detail, time.time())

    def finish_step(self, dep_id: int, step_id: int, name: str, status: str, detail: str) -> None:
        with self._tx() as conn:
            finish_step(conn, dep_id, step_id, name, status, detail, time.time())

    def add_event(self, dep_id: int, step: str, message: str, status: str = "info") -> None:
        with self._tx() as conn:
            conn.execute(
                insert(events).values(
                    deployment_id=dep_id, at=time.time(), step=step, status=status, message=message
                )
            )

    def events(self, dep_id: int, after: int = 0) -> list[Row]:
        with self._tx() as conn:
            rows = conn.execute(
                select(events)
                .where(events.c.deployment_id == dep_id, events.c.id > after)
                .order_by(events.c.id)
            ).mappings()
            return [dict(row) for row in rows]

    # locks ------------------------------------------------------------------------------------
    def lock(self, env: str) -> r.Lock | None:
        with self._tx() as conn:
            row = conn.execute(select(locks).where(locks.c.env == env)).mappings().first()
        return r.Lock.from_row(dict(row)) if row else None

    def locks(self) -> list[r.Lock]:
        with self._tx() as conn:
            return [r.Lock.from_row(dict(row)) for row in conn.execute(select(locks)).mappings()]

    def break_lock(self, env: str, status: str = "interrupted", error: str = "") -> r.Lock | None:
        """Remove ``env``'s lock and mark the deployment that held it as ``status``."""
        with self._tx() as conn:
            row = conn.execute(select(locks).where(locks.c.env == env)).mappings().first()
            if row is None:
                return None
            held = r.Lock.from_row(dict(row))
            conn.execute(locks.delete().where(locks.c.env == env))
            if held.deployment_id is not None:
                conn.execute(
                    update(deployments)
                    .where(deployments.c.id == held.deployment_id, deployments.c.status == "running")
                    .values(status=status, finished_at=time.time(), error=error)
                )
        return held

    # instances ------------------------------------------------------------------------------
    def add_instance(self, inst: r.NewInstance) -> int:
        with self._tx() as conn:
            new_id = conn.execute(
                insert(instances).values(**inst.to_row(), state="starting", restarts=0)
            ).inserted_primary_key[0]  # type: ignore[index]
        return int(new_id)

    def update_instance(self, inst_id: int, **values: Any) -> None:
        with self._tx() as conn:
            conn.execute(update(instances).where(instances.c.id == inst_id).values(**values))

    def instances(
        self, env: str | None = None, live_only: bool = True, process: str | None = "web"
    ) -> list[r.Instance]:
        """Instances (web's by default: what HAProxy, probes and rollouts see); ``process=None``
        for every process, workers included."""
        query = select(instances).order_by(instances.c.id)
        if env is not None:
            query = query.where(instances.c.env == env)
        if process is not None:
            query = query.where(instances.c.process == process)
        if live_only:
            query = query.where(instances.c.state != "stopped")
        with self._tx() as conn:
            return [r.Instance.from_row(dict(row)) for row in conn.execute(query).mappings()]

    def instance(self, inst_id: int) -> r.Instance:
        with self._tx() as conn:
            row = conn.execute(select(instances).where(instances.c.id == inst_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"instance {inst_id} does not exist", "see `shipyard status`")
        return r.Instance.from_row(dict(row))

    # routes -----------------------------------------------------------------------------------
    def route(self, env: str) -> r.Route:
        with self._tx() as conn:
            row = conn.execute(select(routes).where(routes.c.env == env)).mappings().first()
        return r.Route.from_row(dict(row)) if row else r.Route(env=env)

    def all_routes(self) -> list[r.Route]:
        with self._tx() as conn:
            return [r.Route.from_row(dict(row)) for row in conn.execute(select(routes)).mappings()]

    def set_route(self, route: r.Route) -> None:
        with self._tx() as conn:
            set_route(conn, route, time.time())

    # rollouts ---------------------------------------------------------------------------------
    def save_rollout(self, dep_id: int, **values: Any) -> None:
        """Insert or update the rollout row of deployment ``dep_id``."""
        values = {
            k: (dumps(v) if k in ("plan", "figures") and not isinstance(v, str) else v)
            for k, v in values.items()
        } | {"updated_at": time.time()}
        with self._tx() as conn:
            done = conn.execute(update(rollouts).where(rollouts.c.deployment_id == dep_id).values(**values))
            if done.rowcount == 0:
                conn.execute(insert(rollouts).values(deployment_id=dep_id, **values))

    def rollout(self, dep_id: int) -> Row | None:
        with self._tx() as conn:
            row = conn.execute(select(rollouts).where(rollouts.c.deployment_id == dep_id)).mappings().first()
        return _decoded(dict(row)) if row else None

    def latest_rollout(self, env: str) -> Row | None:
        with self._tx() as conn:
            row = (
                conn.execute(
                    select(rollouts).where(rollouts.c.env == env).order_by(rollouts.c.deployment_id.desc())
                )
                .mappings()
                .first()
            )
        return _decoded(dict(row)) if row else None

    def add_samples(self, dep_id: int, rows: list[Row]) -> None:
        with self._tx() as conn:
            conn.execute(insert(rollout_samples), [{"deployment_id": dep_id, **row} for row in rows])

    def samples(self, dep_id: int, after: int = 0, limit: int = 10000) -> list[Row]:
        with self._tx() as conn:
            rows = conn.execute(
                select(rollout_samples)
                .where(rollout_samples.c.deployment_id == dep_id, rollout_samples.c.id > after)
                .order_by(rollout_samples.c.id)
                .limit(limit)
            ).mappings()
            return [dict(row) for row in rows]

    def add_check(self, dep_id: int, row: Row) -> None:
        row = {**row, "figures": dumps(row["figures"])}
        with self._tx() as conn:
            conn.execute(insert(analysis_checks).values(deployment_id=dep_id, **row))

    def checks(self, dep_id: int) -> list[Row]:
        with self._tx() as conn:
            rows = conn.execute(
                select(analysis_checks)
                .where(analysis_checks.c.deployment_id == dep_id)
                .order_by(analysis_checks.c.id)
            ).mappings()
            return [_decoded(dict(row)) for row in rows]


def _decoded(row: Row) -> Row:
    for key in ("plan", "figures"):
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    return row


def dumps(data: object) -> str:
    return json.dumps(data, sort_keys=True)
