"""What ``shipyard status`` shows: each environment's routes, lock, instances (alive, as the
proxy sees them), workers, approvals waiting and alerts firing. ``Engine.status`` calls ``status``.
"""

from __future__ import annotations

import time
from typing import Any

from shipyard.core.proxy import backend_name
from shipyard.core.records import Instance, Route, endpoint_port
from shipyard.engine.context import Context
from shipyard.engine.delivery.workers import LIVE


def status(ctx: Context, reconciler_errors: list[str]) -> dict[str, Any]:
    """Every environment as ``shipyard status`` shows it: routes, lock, instances, approvals, alerts.

    Each table is read once for every environment (the dashboard's overview shows 20 of them)."""
    proxy_states = {}
    if ctx.proxy.is_running():
        proxy_states = {(s.backend, s.name): s for s in ctx.proxy.server_states()}
    envs: dict[str, Any] = {}
    waiting = ctx.store.approvals.waiting()
    firing: dict[str, int] = {}
    for alert in ctx.store.observe.alerts():
        if alert.state == "firing":
            firing[alert.label("env")] = firing.get(alert.label("env"), 0) + 1
    routes = {route.env: route for route in ctx.store.all_routes()}
    locks = {held.env: held for held in ctx.store.locks()}
    live: dict[str, list[Instance]] = {}
    for i in ctx.store.instances(None, process=None):
        if i.state in LIVE:
            live.setdefault(i.env, []).append(i)
    for env, spec in ctx.manifest.environments.items():
        route = routes.get(env) or Route(env=env)
        held = locks.get(env)
        insts = []
        for i in (i for i in live.get(env, []) if i.process == "web"):
            seen = proxy_states.get((backend_name(env, i.colour), i.name))
            insts.append(
                {
                    "name": i.name,
                    "release": i.release_id,
                    "port": endpoint_port(i.endpoint),
                    "endpoint": i.endpoint,  # host:port (on swarm, the task's node address)
                    "pid": ctx.runtime.pid(i.runtime_ref),
                    "state": i.state,
                    "restarts": i.restarts,
                    "alive": ctx.runtime.alive(i.runtime_ref),
                    "proxy_status": seen.status if seen else None,
                    "weight": route.share(i.colour),
                }
            )
        envs[env] = {
            "url": f"http://{spec.bind}:{spec.port}/",
            "active_colour": route.active_colour,
            "active_release": route.active_release,
            "standby_colour": route.standby_colour,
            "standby_release": route.standby_release,
            "standby_until": route.standby_until,
            "lock": None
            if held is None
            else {
                "holder": held.holder,
                "reason": held.reason,
                "since": held.acquired_at,
                "deployment": held.deployment_id,
            },
            "instances": insts,
            "workers": workers(ctx, [i for i in live.get(env, []) if i.process != "web"]),
            "waiting_approval": [vars(w) for w in waiting if w.env == env],
            "alerts_firing": firing.get(env, 0),
            "autoscale": autoscale_line(ctx, env),
        }
    return {
        "app": ctx.manifest.app,
        "proxy_running": ctx.proxy.is_running(),
        "environments": envs,
        "reconciler_errors": reconciler_errors,
        "failed_notifications": failed_notifications(ctx),
    }


def workers(ctx: Context, live: list[Instance]) -> list[dict[str, Any]]:
    """An environment's live worker instances (no port, no traffic): which process, release,
    alive, restarts."""
    return [
        {
            "name": i.name,
            "process": i.process,
            "release": i.release_id,
            "pid": ctx.runtime.pid(i.runtime_ref),
            "state": i.state,
            "restarts": i.restarts,
            "alive": ctx.runtime.alive(i.runtime_ref),
        }
        for i in live
    ]


def autoscale_line(ctx: Context, env: str) -> str | None:
    """``autoscale 3 (2 to 4, automatic): cpu 93% / target 70%``, or None without autoscale."""
    scale = ctx.manifest.environments[env].autoscale
    if scale is None:
        return None
    state = ctx.store.autoscale.get(env)
    mode = f"pinned by {state.pinned_by}" if state is not None and state.pinned is not None else "automatic"
    last = ctx.store.autoscale.decisions(env, limit=1)
    why = f": {last[0]['rule']}" + (f", {last[0]['reason']}" if last[0]["reason"] else "") if last else ""
    return f"autoscale {ctx.web_count(env)} ({scale.min} to {scale.max}, {mode}){why}"


def failed_notifications(ctx: Context) -> list[dict[str, Any]]:
    """The last failed deliveries of the past hour (receiver and why; no secret), for ``status``."""
    since = time.time() - 3600
    recent = ctx.store.observe.deliveries(20)
    failed = [d for d in recent if d["status"] == "failed" and d["at"] >= since]
    return [{"receiver": d["receiver"], "detail": d["detail"]} for d in failed[:3]]
