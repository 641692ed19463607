"""Notes example app, "broken" version 3: a release that never becomes healthy.

It starts and listens normally and ``GET /`` works, but ``/health`` always answers 503,
simulating a release that needs configuration (``NOTES_DB_SCHEMA_V3``) that was never
provided. Shipyard should refuse to switch traffic to it and keep the old colour live.
"""

import json
import os

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse

VERSION = "3.0.0"

app = FastAPI(title="notes", version=VERSION)

# Built once: the environment does not change during the life of the process.
_ROOT_BODY = json.dumps(
    {
        "app": "notes",
        "version": VERSION,
        "release": os.environ.get("SHIPYARD_RELEASE"),
        "colour": os.environ.get("SHIPYARD_COLOUR"),
    },
    separators=(",", ":"),
).encode()


@app.get("/")
async def root() -> Response:
    """Identify the running version; never touches the database (benchmarked endpoint)."""
    return Response(content=_ROOT_BODY, media_type="application/json")


@app.get("/health")
async def health() -> JSONResponse:
    """Always Unhealthy: the configuration this release requires is missing."""
    return JSONResponse(
        {
            "status": "Unhealthy",
            "version": VERSION,
            "services": {
                "database": {
                    "status": "Unhealthy",
                    "error": "NOTES_DB_SCHEMA_V3 is not configured",
                }
            },
        },
        status_code=503,
    )
