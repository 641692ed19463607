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
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shipyard.core.durations import parse_duration
from shipyard.core.metrics import ROLLUP_KEEP_S, resolution_for, summarize
from shipyard.engine.engine import Engine
from shipyard.engine.healthwatch import health_report
from shipyard.server.auth import Who
from shipyard.server.prometheus import CONTENT_TYPE, render_metrics

MAX_SILENCE_S = 90 * 86400.0


class SilenceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    matchers: dict[str, str] = Field(min_length=1)
    duration: str = "1h"
    comment: str = ""

    @field_validator("duration")
    @classmethod
    def _duration(cls, text: str) -> str:
        seconds = parse_duration(text)  # ValueError says what is accepted
        if not 0 < seconds <= MAX_SILENCE_S:
            raise ValueError(f"a silence of {text} is out of range: more than 0s and at most 90d")
        return text


def register_observe(app: FastAPI, engine: Engine) -> None:
    access = engine.access
    store = engine.ctx.store.observe

    def source(request: Request) -> str:
        return request.client.host if request.client else ""

    @app.get("/health")
    def health() -> JSONResponse:
        """Unauthenticated, like a load balancer's probe: statuses only, no secret, pid or port."""
        watch = engine.alerting.health if engine.alerting else None
        doc = health_report(engine.ctx, watch, app.version)
        code = 503 if doc["status"] == "fail" else 200
        return JSONResponse(doc, status_code=code, media_type="application/health+json")

    @app.get("/api/health/{env}/history")
    def health_history(env: str, who: Who, limit: int = 50) -> dict[str, Any]:
        access.read(who, env)
        return {"env": env, "history": store.health_history(env, limit)}

    @app.get("/metrics")
    def metrics(who: Who) -> Response:
        """Prometheus' text format; a scrape job sends the token as its bearer credentials."""
        envs = set(who.readable_envs(access.envs()))
        if not envs:
            access.read(who)  # raises: no environment is readable
        return Response(render_metrics(engine, envs), media_type=CONTENT_TYPE)

    @app.get("/api/metrics/{env}")
    def metrics_of(env: str, who: Who, since: float = 3600) -> dict[str, Any]:
        access.read(who, env)
        span = min(max(since, 1.0), ROLLUP_KEEP_S)
        resolution = resolution_for(span)
        rows = store.points(env, time.time() - span, resolution)
        return {
            "env": env,
            "since": span,
            "resolution": resolution or engine.ctx.manifest.alerts.interval,
            "series": summarize(rows),
        }

    @app.get("/api/alerts")
    def alerts(who: Who, limit: int = 20) -> dict[str, Any]:
        envs = who.readable_envs(access.envs())
        if not envs:
            access.read(who)  # raises: no environment is readable
        now = time.time()
        shown = [a.to_json() for a in store.alerts() if a.label("env") in envs]
        silences = [
            {**vars(s), "matchers": dict(s.matchers), "active": s.active(now)}
            for s in store.silences()
            if s.ends_at > now - 86400 and who.may("read", dict(s.matchers).get("env"))
        ]
        alerting = engine.alerting
        return {
            "alerts": shown,
            "silences": silences,
            "deliveries": [d for d in store.deliveries(limit) if d["env"] in envs or not d["env"]],
            "interval": engine.ctx.manifest.alerts.interval,
            "last_run": alerting.last_run if alerting else None,
            "errors": alerting.errors if alerting else [],
        }

    @app.post("/api/alerts/silences")
    def silence(body: SilenceBody, request: Request, who: Who) -> dict[str, Any]:
        env = body.matchers.get("env")
        seconds = parse_duration(body.duration)
        target = ",".join(f"{k}={v}" for k, v in sorted(body.matchers.items()))
        access.guard(who, "deploy", "alerts.silence", env=env, target=target, source=source(request))
        silence_id = store.add_silence(body.matchers, time.time() + seconds, who.user, body.comment)
        return {"ok": True, "id": silence_id, "ends_at": time.time() + seconds}

    @app.post("/api/alerts/silences/{silence_id}/expire")
    def expire(silence_id: int, request: Request, who: Who) -> dict[str, Any]:
        found = next((s for s in store.silences() if s.id == silence_id), None)
        env = dict(found.matchers).get("env") if found else None
        access.guard(
            who, "deploy", "alerts.unsilence", env=env, target=str(silence_id), source=source(request)
        )
        store.expire_silence(silence_id)
        return {"ok": True, "id": silence_id}
