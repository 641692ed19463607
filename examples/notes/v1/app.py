"""Notes example app, version 1: a tiny FastAPI + SQLite service deployed by Shipyard.

Shipyard runs it as ``uvicorn app:app`` from this (read-only) folder, so the database
lives in ``$NOTES_DB`` or ``$SHIPYARD_DATA_DIR/notes.db``. The database uses WAL mode and
a busy timeout because the blue and green versions may share the file during a switch.
"""

import json
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

VERSION = "1.0.0"
BUSY_TIMEOUT_S = 5.0

log = logging.getLogger("notes")


def db_path() -> str:
    """Return the SQLite file path (never inside the read-only app folder by default).

    ``$NOTES_DB`` wins (tests), then Shipyard's ``$DATABASE_URL`` (``sqlite:////abs/path``),
    then ``$SHIPYARD_DATA_DIR/notes.db``.
    """
    url = os.environ.get("DATABASE_URL", "")
    from_url = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else ""
    return (
        os.environ.get("NOTES_DB")
        or from_url
        or os.path.join(os.environ.get("SHIPYARD_DATA_DIR", "."), "notes.db")
    )


@contextmanager
def connect() -> Iterator[sqlite3.Connection]:
    """Open a short-lived connection; commit on success, roll back on error, always close."""
    conn = sqlite3.connect(db_path(), timeout=BUSY_TIMEOUT_S)  # timeout = busy timeout
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        with conn:
            yield conn
    finally:
        conn.close()


def init_schema() -> None:
    """Create the schema; log (rather than crash) so /health can report the problem."""
    try:
        with connect() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS notes ("
                "id INTEGER PRIMARY KEY, text TEXT NOT NULL, created_at TEXT NOT NULL)"
            )
    except sqlite3.Error:
        log.exception("could not initialise database at %s", db_path())


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    init_schema()
    yield


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=1000)


class Note(BaseModel):
    id: int
    text: str
    created_at: str


app = FastAPI(title="notes", version=VERSION, lifespan=lifespan)

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


@app.get("/work")
def work(ms: float = 20.0) -> dict[str, float]:
    """Burn ``ms`` milliseconds of CPU (at most 1000) and answer: load for autoscaling benchmarks.
    Run in uvicorn's thread pool; the GIL holds one instance to about one core."""
    budget = min(max(ms, 0.0), 1000.0) / 1000
    start = time.thread_time()
    spins = 0
    while time.thread_time() - start < budget:
        spins += 1
    return {"ms": round((time.thread_time() - start) * 1000, 3), "spins": float(spins)}


@app.get("/health")
def health() -> JSONResponse:
    """Report Healthy (200) if ``SELECT 1`` succeeds, otherwise Unhealthy (503)."""
    database: dict[str, Any]
    try:
        start = time.perf_counter()
        with connect() as conn:
            conn.execute("SELECT 1").fetchone()
        elapsed_ms = (time.perf_counter() - start) * 1000
        database = {"status": "Healthy", "response_time_ms": round(elapsed_ms, 3)}
    except Exception as exc:
        database = {"status": "Unhealthy", "error": f"{type(exc).__name__}: {exc}"}
    healthy = database["status"] == "Healthy"
    return JSONResponse(
        {"status": database["status"], "version": VERSION, "services": {"database": database}},
        status_code=200 if healthy else 503,
    )


@app.get("/notes")
def list_notes() -> list[Note]:
    # Name the columns explicitly: later versions may add columns (expand migrations).
    with connect() as conn:
        rows = conn.execute("SELECT id, text, created_at FROM notes ORDER BY id").fetchall()
    return [Note(id=row[0], text=row[1], created_at=row[2]) for row in rows]


@app.post("/notes", status_code=201)
def create_note(note: NoteIn) -> Note:
    created_at = datetime.now(UTC).isoformat(timespec="seconds")
    with connect() as conn:
        cur = conn.execute("INSERT INTO notes (text, created_at) VALUES (?, ?)", (note.text, created_at))
    assert cur.lastrowid is not None
    return Note(id=cur.lastrowid, text=note.text, created_at=created_at)
