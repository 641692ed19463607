"""The control plane's own health, as the IETF health check response format (application/health+json).

Pure: ``server/observe.py`` gathers the facts (a state store round trip, whether HAProxy
runs, each instance's last probe from the alerting loop) and this module decides the
statuses and draws the document of draft-inadarei-api-health-check: ``status`` (pass, warn or
fail), ``version``, ``releaseId``, ``serviceId`` and ``checks``, keyed
``<component>:<measurement>``. An instance that fails its probe while others of its
environment pass makes a *warn*; an environment that serves a release with no passing
instance or whose database does not answer, a state store that does not answer, or a dead
HAProxy make a *fail*. Every background loop (``core/loops.py``) is a check of its own,
``<loop>:loop``: one that is failing, overdue or stopped by itself makes a *warn* (the control
plane still answers; what the loop does waits). No secret, path, pid or port is in it: a
loop's failure is named by its kind only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from shipyard.core.loops import LoopState, loop_problem

Status = Literal["pass", "warn", "fail"]
ORDER: dict[str, int] = {"pass": 0, "warn": 1, "fail": 2}
HEALTH_VERSION = "1"


@dataclass(frozen=True)
class InstanceFact:
    env: str
    name: str
    release: str
    alive: bool
    probe_ok: bool | None  # None: not probed yet
    detail: str = ""
    since: float | None = None  # when the last probe's status began


@dataclass(frozen=True)
class DatabaseFact:
    env: str
    engine: str  # sqlite | postgres
    ms: float | None  # one round trip; None when it did not answer or there is none yet
    error: str = ""  # why it did not answer; "" with ms None: no database yet (nothing deployed)


@dataclass(frozen=True)
class Facts:
    app: str
    release_id: str  # Shipyard's version
    now: float
    store_ms: float | None  # None: the store did not answer
    store_error: str
    proxy_running: bool
    serving: dict[str, str | None]  # env -> the active release, or None
    instances: tuple[InstanceFact, ...]
    databases: tuple[DatabaseFact, ...] = ()
    loops: tuple[LoopState, ...] = ()


def worst(statuses: Iterable[str]) -> Status:
    found: Status = "pass"
    for status in statuses:
        if ORDER[status] > ORDER[found]:
            found = status  # type: ignore[assignment]
    return found


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _instance_status(inst: InstanceFact) -> Status:
    if not inst.alive or inst.probe_ok is False:
        return "fail"
    return "pass" if inst.probe_ok else "warn"  # not probed yet


def health_document(facts: Facts) -> dict[str, Any]:
    now = iso(facts.now)
    checks: dict[str, list[dict[str, Any]]] = {}
    store: dict[str, Any] = {"componentType": "datastore", "time": now}
    if facts.store_ms is None:
        store |= {"status": "fail", "output": facts.store_error}
    else:
        store |= {"status": "pass", "observedValue": round(facts.store_ms, 3), "observedUnit": "ms"}
    checks["state-store:responseTime"] = [store]
    needs_proxy = any(facts.serving.values())
    proxy_status: Status = "pass" if facts.proxy_running else ("fail" if needs_proxy else "warn")
    proxy: dict[str, Any] = {"componentType": "system", "status": proxy_status, "time": now}
    if not facts.proxy_running:
        proxy["output"] = "HAProxy is not running" + ("" if needs_proxy else " (nothing deployed)")
    checks["haproxy:status"] = [proxy]
    summary: list[Status] = [store["status"], proxy_status]
    for env, release in facts.serving.items():
        entries, env_status = _env_check(env, release, [i for i in facts.instances if i.env == env], now)
        checks[f"{env}:instances"] = entries
        summary.append(env_status)
    for db in facts.databases:
        entry, status = _database_check(db, bool(facts.serving.get(db.env)), now)
        checks[f"{db.env}:database"] = [entry]
        summary.append(status)
    for loop in facts.loops:
        entry, status = loop_check(loop, facts.now)
        checks.setdefault(f"{loop.name}:loop", []).append(entry)
        summary.append(status)
    return {
        "status": worst(summary),
        "version": HEALTH_VERSION,
        "releaseId": facts.release_id,
        "serviceId": f"shipyard:{facts.app}",
        "description": f"Shipyard control plane of {facts.app}",
        "checks": checks,
    }


def _env_check(
    env: str, release: str | None, instances: list[InstanceFact], now: str
) -> tuple[list[dict[str, Any]], Status]:
    if release is None:
        return [
            {"componentType": "component", "status": "pass", "output": "nothing deployed", "time": now}
        ], "pass"
    entries = []
    statuses = []
    for inst in instances:
        status = _instance_status(inst)
        statuses.append(status)
        entry: dict[str, Any] = {
            "componentId": f"{env}/{inst.name}",
            "componentType": "component",
            "observedValue": inst.release,
            "status": status,
            "time": iso(inst.since) if inst.since else now,
        }
        if status != "pass":
            entry["output"] = inst.detail or ("not running" if not inst.alive else "not probed yet")
        entries.append(entry)
    if not instances:
        out = f"serving {release} with no instance running"
        return [{"componentType": "component", "status": "fail", "output": out, "time": now}], "fail"
    if "pass" not in statuses:
        return entries, "fail"
    return entries, "warn" if any(s != "pass" for s in statuses) else "pass"


def _database_check(db: DatabaseFact, serving: bool, now: str) -> tuple[dict[str, Any], Status]:
    """A database that does not answer fails its environment if a release serves there."""
    entry: dict[str, Any] = {"componentId": f"{db.env}/{db.engine}", "componentType": "datastore"}
    entry["time"] = now
    if db.ms is not None:
        return entry | {"status": "pass", "observedValue": round(db.ms, 3), "observedUnit": "ms"}, "pass"
    if not db.error:
        return entry | {"status": "pass", "output": "no database yet"}, "pass"
    status: Status = "fail" if serving else "warn"
    return entry | {"status": status, "output": db.error}, status


def loop_check(loop: LoopState, now: float) -> tuple[dict[str, Any], Status]:
    """A background loop's check: *warn* when it fails, is overdue or stopped by itself."""
    problem = loop_problem(loop, now)
    status: Status = "pass" if problem is None else "warn"
    entry: dict[str, Any] = {
        "componentId": loop.name,
        "componentType": "system",
        "status": status,
        "observedValue": loop.failures,
        "observedUnit": "consecutive failures",
        "time": iso(loop.last_end or loop.last_start or now),
    }
    if problem is not None:
        entry["output"] = problem
    return entry, status
