"""The log routes of the API: search, follow and export an environment's logs.

``register_logs(app, engine)`` is called by ``server/api.py``. Each route needs a
token whose user may ``read`` the environment, like the other read routes. Search
answers JSON (``{"lines": [...], "cursor": N}``; ``after=cursor`` asks for newer lines,
which is how ``shipyard logs -f`` follows); export streams JSON lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.responses import StreamingResponse

from shipyard.core.access import Principal
from shipyard.engine.engine import Engine
from shipyard.engine.observe.logs import LogService
from shipyard.engine.observe.logsearch import LogQuery
from shipyard.errors import ConflictError
from shipyard.schemas.observe import LogFilter, LogLines, LogStats
from shipyard.server.auth import principal
from shipyard.server.params import Cursor, EnvPath, Limit


def register_logs(app: FastAPI, engine: Engine) -> None:
    access = engine.access

    def service() -> LogService:
        if engine.logs is None:
            raise ConflictError(
                "this control plane keeps no central logs: its log store could not be opened",
                "see why in <home>/server.log; the instances' own files are in <home>/envs/ENV/logs/",
            )
        return engine.logs

    @app.get("/api/logs/{env}")
    def search(
        env: EnvPath,
        request: Request,
        query: Annotated[LogFilter, Query()],
        limit: Limit = 200,
        after: Cursor | None = None,
    ) -> LogLines:
        who: Principal = principal(request)
        access.read(who, env)
        found = service().search(env, LogQuery(**query.model_dump()), limit, after)
        return LogLines.model_validate(found)

    @app.get("/api/logs/{env}/export")
    def export(env: EnvPath, request: Request, query: Annotated[LogFilter, Query()]) -> StreamingResponse:
        who: Principal = principal(request)
        access.read(who, env)
        lines = service().export(env, LogQuery(**query.model_dump()))
        first = next(lines, None)  # a bad filter fails here, as JSON, before the stream starts

        def body() -> Iterator[bytes]:
            if first is None:
                return
            yield (json.dumps(first, ensure_ascii=False) + "\n").encode()
            for line in lines:
                yield (json.dumps(line, ensure_ascii=False) + "\n").encode()

        return StreamingResponse(body(), media_type="application/x-ndjson")

    @app.get("/api/logs")
    def stats(request: Request) -> LogStats:
        who: Principal = principal(request)
        access.read(who)
        logs = service()
        return LogStats(
            **logs.stats,
            **logs.usage(),
            errors=logs.errors,
        )
