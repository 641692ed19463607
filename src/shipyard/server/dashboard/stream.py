"""A deployment's progress as server-sent events, for its page (``static/deployment.js``).

``GET /deployments/{id}/stream`` sends each new event of the deployment (``event: step``),
each new canary sample (``event: sample``) and, once the deployment has finished, its result
(``event: done``), then ends. It polls the engine's history every quarter second, so a step
shows on the page well within a second of being recorded. The session is checked when the
stream opens (``web.signed_in``); a stream ends after ``MAX_SECONDS`` (the browser reconnects,
checked again, from the last event id it saw).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from shipyard.engine.engine import Engine
from shipyard.server.dashboard import views
from shipyard.server.dashboard.web import Visitor, dashboard_of, signed_in

POLL_SECONDS = 0.25
MAX_SECONDS = 300.0


def message(kind: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, default=str)}\n\n"


def news(engine: Engine, dep_id: int, after: int, samples_after: int) -> tuple[list[str], int, int, bool]:
    """What happened since the cursors: messages to send, the new cursors, whether it finished."""
    out = []
    for event in engine.history.events(dep_id, after):
        after = max(after, int(event["id"]))
        out.append(message("step", event, after))
    figures = engine.history.figures(dep_id, samples_after)
    for sample in figures["samples"]:
        samples_after = max(samples_after, int(sample["id"]))
        out.append(message("sample", sample))
    dep = engine.history.deployment(dep_id)
    if dep.finished_at is not None:
        out.append(message("done", {"status": dep.status, "error": dep.error, "hint": dep.hint}))
    return out, after, samples_after, dep.finished_at is not None


@signed_in
async def stream(request: Request, visitor: Visitor) -> Response:
    engine = dashboard_of(request).engine
    dep_id: int = request.path_params["dep_id"]
    await run_in_threadpool(views.deployment, engine, visitor.who, dep_id)  # may read it: or refused
    given = request.headers.get("last-event-id") or request.query_params.get("after", "0")
    after = int(given) if given.isdigit() else 0

    async def body() -> AsyncIterator[str]:
        nonlocal after
        samples_after, deadline = 0, time.monotonic() + MAX_SECONDS
        yield "retry: 1000\n\n"
        while time.monotonic() < deadline and not await request.is_disconnected():
            out, after, samples_after, done = await run_in_threadpool(
                news, engine, dep_id, after, samples_after
            )
            for line in out:
                yield line
            if done:
                return
            await asyncio.sleep(POLL_SECONDS)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)
