"""Instances' health over time: probes every live instance and keeps the history of changes.

The alerting loop calls ``HealthWatch.check`` at each evaluation. Every live instance is
probed at the manifest's ``health.path`` (in parallel, each bounded by ``health.timeout``);
the last result of each is kept in memory for ``GET /health``, and each change of an
instance's status (and its first probe by this control plane) is appended to the state
store's ``health_history``, kept ``HISTORY_KEEP_S``. ``health_report`` builds ``GET /health``'s
document (for ``Observations``), with one round trip to each environment's database through
the one ``AppDatabases``.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from shipyard.core.health_report import DatabaseFact, Facts, InstanceFact, health_document
from shipyard.core.loops import LoopState
from shipyard.core.records import Instance
from shipyard.drivers.data.sqlite.backup import round_trip as sqlite_round_trip
from shipyard.drivers.runtime.interface import HealthProber
from shipyard.engine.context import Context
from shipyard.engine.data.database import AppDatabases, sqlite_file
from shipyard.engine.data.postgres.managed import is_managed

HISTORY_KEEP_S = 30 * 86400.0
PROBE_TIMEOUT_CAP_S = 2.0


@dataclass(frozen=True)
class Last:
    ok: bool
    detail: str
    since: float


class HealthWatch:
    def __init__(self, ctx: Context, prober: HealthProber) -> None:
        self.ctx = ctx
        self.prober = prober
        self.last: dict[int, Last] = {}  # instance id -> its last probe
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="health")
        self._pruned_at = 0.0

    def check(self, now: float) -> None:
        ctx = self.ctx
        live = [
            i
            for env in ctx.manifest.environments
            for i in ctx.live_instances(env)
            if i.state == "running" and i.endpoint is not None
        ]
        health = ctx.manifest.health
        timeout = min(health.timeout, PROBE_TIMEOUT_CAP_S)
        results = list(
            self._pool.map(lambda i: self.prober.get(i.endpoint or "", health.path, timeout), live)
        )
        for inst, result in zip(live, results, strict=True):
            before = self.last.get(inst.id)
            detail = result.error or f"answered {result.status} in {result.seconds * 1000:.0f} ms"
            if before is not None and before.ok == result.ok:
                continue
            self.last[inst.id] = Last(result.ok, detail, now)
            ctx.store.observe.add_health(
                {
                    "env": inst.env,
                    "instance": inst.name,
                    "release_id": inst.release_id,
                    "at": now,
                    "status": "pass" if result.ok else "fail",
                    "detail": detail,
                }
            )
        ids = {i.id for i in live}
        self.last = {k: v for k, v in self.last.items() if k in ids}
        if now - self._pruned_at > 3600:
            ctx.store.observe.drop_health(now - HISTORY_KEEP_S)
            self._pruned_at = now

    def facts(self, env: str, instances: list[Instance]) -> list[InstanceFact]:
        out = []
        for inst in instances:
            last = self.last.get(inst.id)
            alive = self.ctx.runtime.alive(inst.runtime_ref)
            out.append(
                InstanceFact(
                    env=env,
                    name=inst.name,
                    release=inst.release_id,
                    alive=alive,
                    probe_ok=last.ok if last else None,
                    detail=last.detail if last else "",
                    since=last.since if last else None,
                )
            )
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.prober.close()


def store_round_trip(ctx: Context) -> tuple[float | None, str]:
    """How long one read of the state store takes (ms), or the error."""
    started = time.perf_counter()
    try:
        ctx.store.lock("-")  # one indexed read in its own transaction
    except Exception as exc:
        return None, f"{type(exc).__name__}: the state store did not answer"
    return (time.perf_counter() - started) * 1000, ""


def health_report(
    ctx: Context,
    databases: AppDatabases,
    watch: HealthWatch | None,
    version: str,
    loops: tuple[LoopState, ...] = (),
) -> dict[str, Any]:
    """``GET /health``'s document (see ``core.health_report``), with the background loops' states."""
    store_ms, store_error = store_round_trip(ctx)
    serving: dict[str, str | None] = {}
    instances: list[InstanceFact] = []
    for env in ctx.manifest.environments:
        try:
            serving[env] = ctx.store.route(env).active_release
        except Exception:
            serving[env] = None
        # instances still starting are the deploy's health gate's business, not yet the service's
        live = [i for i in ctx.live_instances(env) if i.state == "running"] if store_ms is not None else []
        if watch is not None:
            instances += watch.facts(env, live)
    dbs = tuple(database_fact(databases, env) for env in ctx.manifest.environments)
    facts = Facts(
        app=ctx.manifest.app,
        release_id=version,
        now=time.time(),
        store_ms=store_ms,
        store_error=store_error,
        proxy_running=ctx.proxy.is_running(),
        serving=serving if store_ms is not None else {},
        instances=tuple(instances),
        databases=dbs,
        loops=loops,
    )
    return health_document(facts)


def database_fact(databases: AppDatabases, env: str) -> DatabaseFact:
    """One round trip to ``env``'s database (SQLite: a read-only open and a schema read;
    managed PostgreSQL: ``SELECT 1`` as the app)."""
    ctx = databases.ctx
    db = ctx.manifest.database_for(env)
    if is_managed(ctx, env):
        return DatabaseFact(env, db.engine, *databases.clusters.round_trip(env))
    if db.engine != "sqlite":
        return DatabaseFact(env, db.engine, None, "")  # an external server: not Shipyard's to check
    ms, error = sqlite_round_trip(sqlite_file(ctx, env))
    return DatabaseFact(env, db.engine, ms, error)
