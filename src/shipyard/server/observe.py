"""Observability routes of the control plane's API: health, metrics, alerts, silences, deliveries.

``server/api.py`` calls ``register_observe`` once. ``GET /health`` (application/health+json)
needs no token, as a load balancer or uptime monitor probes it: it holds statuses, release
ids and instance names, never a secret, pid or port. Other reads need the ``read`` permission
on the environments shown; a silence is an audited action needing ``deploy`` on the
silenced environment (or on every environment when the silence names none).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from shipyard.core.access import Principal
from shipyard.core.durations import parse_duration
from shipyard.core.metrics import ROLLUP_KEEP_S, resolution_for, summarize
from shipyard.engine.engine import Engine
from shipyard.schemas import observe as o
from shipyard.server.auth import Who
from shipyard.server.params import EnvPath, Limit, SilencePath, Since
from shipyard.server.prometheus import CONTENT_TYPE, render_metrics


def register_observe(app: FastAPI, engine: Engine) -> None:
    access = engine.access
    observe = engine.observe

    def source(request: Request) -> str:
        return request.client.host if request.client else ""

    @app.get("/health")
    def health() -> JSONResponse:
        """Unauthenticated, like a load balancer's probe: statuses only, no secret, pid or port."""
        doc = observe.health(app.version)
        code = 503 if doc["status"] == "fail" else 200
        return JSONResponse(doc, status_code=code, media_type="application/health+json")

    @app.get("/api/health/{env}/history")
    def health_history(env: EnvPath, who: Who, limit: Limit = 50) -> o.HealthHistory:
        access.read(who, env)
        return o.HealthHistory.model_validate({"env": env, "history": observe.health_history(env, limit)})

    @app.get("/metrics")
    def metrics(who: Who) -> Response:
        """Prometheus' text format; a scrape job sends the token as its bearer credentials."""
        envs = set(who.readable_envs(access.envs()))
        if not envs:
            access.read(who)  # raises: no environment is readable
        return Response(render_metrics(engine, envs), media_type=CONTENT_TYPE)

    @app.get("/api/metrics/{env}")
    def metrics_of(env: EnvPath, who: Who, since: Since = 3600) -> o.Metrics:
        span, resolution, rows = metric_rows(engine, who, env, since)
        return o.Metrics.model_validate(
            {
                "env": env,
                "since": span,
                "resolution": resolution or observe.interval(),
                "series": summarize(rows),
            }
        )

    @app.get("/api/alerts")
    def alerts(who: Who, limit: Limit = 20) -> o.Alerts:
        return alerts_for(engine, who, limit)

    @app.post("/api/alerts/silences")
    def silence(body: o.SilenceBody, request: Request, who: Who) -> o.Silenced:
        return add_silence(engine, who, body, source(request))

    @app.post("/api/alerts/silences/{silence_id}/expire")
    def expire(silence_id: SilencePath, request: Request, who: Who) -> o.Expired:
        return expire_silence(engine, who, silence_id, source(request))


def metric_rows(
    engine: Engine, who: Principal, env: str, since: float
) -> tuple[float, int, list[dict[str, Any]]]:
    """The span (clamped), its resolution and ``env``'s points over it, for a reader of ``env``
    (``GET /api/metrics/<env>`` and the dashboard's charts)."""
    engine.access.read(who, env)
    span = min(max(since, 1.0), ROLLUP_KEEP_S)
    resolution = resolution_for(span)
    return span, resolution, engine.observe.points(env, time.time() - span, resolution)


def alerts_for(engine: Engine, who: Principal, limit: int) -> o.Alerts:
    """The alerts, the last day's silences and the recent deliveries of the environments ``who``
    may read (``GET /api/alerts`` and the dashboard's alerts page)."""
    access, observe = engine.access, engine.observe
    envs = who.readable_envs(access.envs())
    if not envs:
        access.read(who)  # raises: no environment is readable
    now = time.time()
    shown = [a.to_json() for a in observe.alerts() if a.label("env") in envs]
    silences = [
        {**vars(s), "matchers": dict(s.matchers), "active": s.active(now)}
        for s in observe.silences()
        if s.ends_at > now - 86400 and who.may("read", dict(s.matchers).get("env"))
    ]
    alerting = engine.alerting
    return o.Alerts.model_validate(
        {
            "alerts": shown,
            "silences": silences,
            "deliveries": [d for d in observe.deliveries(limit) if d["env"] in envs or not d["env"]],
            "interval": observe.interval(),
            "last_run": alerting.last_run if alerting else None,
            "errors": alerting.errors if alerting else [],
        }
    )


def add_silence(engine: Engine, who: Principal, body: o.SilenceBody, source: str) -> o.Silenced:
    """A silence, audited, needing ``deploy`` on the silenced environment (all: on every one)."""
    env = body.matchers.get("env")
    seconds = parse_duration(body.duration)
    target = ",".join(f"{k}={v}" for k, v in sorted(body.matchers.items()))
    engine.access.guard(who, "deploy", "alerts.silence", env=env, target=target, source=source)
    silence_id = engine.observe.add_silence(body.matchers, seconds, who.user, body.comment)
    return o.Silenced(id=silence_id, ends_at=time.time() + seconds)


def expire_silence(engine: Engine, who: Principal, silence_id: int, source: str) -> o.Expired:
    found = engine.observe.silence(silence_id)
    env = dict(found.matchers).get("env") if found else None
    engine.access.guard(who, "deploy", "alerts.unsilence", env=env, target=str(silence_id), source=source)
    engine.observe.expire_silence(silence_id)
    return o.Expired(id=silence_id)
