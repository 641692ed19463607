"""Notes example app, version 2.1 (faulty): version 2 with a bug that fails 1 request in 5.

Every fifth request to ``/`` answers 500, yet ``/health`` and the first request of each
instance are fine, so it passes the health gate and the smoke check: only the analysis
of real traffic during a canary rollout can catch it. Used by tests and bench/canary.py.

Version 2's notes follow.

Blue-green deploys run v1 and v2 against the same database at the same time, so schema
changes follow the expand/contract rule: a release may only *expand* the schema (here, add
a nullable ``tags`` column) in a way the previous version ignores. Removing or renaming
anything (*contract*) waits for a later release, once no running version still needs it.
"""

import itertools
import json
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StringConstraints

VERSION = "2.1.0"
BUSY_TIMEOUT_S = 5.0

log = logging.getLogger("notes")

# Tags are stored comma-joined, so a tag may not contain a comma.
Tag = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50, pattern=r"^[^,]+$")
]


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
    """Create the v1 schema, then expand it; log (rather than crash) so /health can report."""
    try:
        with connect() as conn:
            # IMMEDIATE takes the write lock first, so two starting instances cannot both
            # decide the column is missing and race to add it.
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS notes ("
                "id INTEGER PRIMARY KEY, text TEXT NOT NULL, created_at TEXT NOT NULL)"
            )
            columns = {row[1] for row in conn.execute("PRAGMA table_info(notes)")}
            if "tags" not in columns:
                # Expand only: nullable, no default needed, invisible to v1's queries.
                conn.execute("ALTER TABLE notes ADD COLUMN tags TEXT")
                log.info("migrated notes: added column tags")
    except sqlite3.Error:
        log.exception("could not initialise database at %s", db_path())


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    init_schema()
    yield


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=1000)
    tags: list[Tag] = Field(default_factory=list, max_length=20)


class Note(BaseModel):
    id: int
    text: str
    created_at: str
    tags: list[str]


def split_tags(stored: str | None) -> list[str]:
    """Decode the comma-joined column; rows written by v1 have NULL."""
    return stored.split(",") if stored else []


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


_served = itertools.count(1)


@app.get("/")
async def root() -> Response:
    """Identify the running version, except that every fifth answer is a 500 (the bug)."""
    if next(_served) % 5 == 0:
        return Response(content=b'{"error":"bug"}', status_code=500, media_type="application/json")
    return Response(content=_ROOT_BODY, media_type="application/json")


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
    with connect() as conn:
        rows = conn.execute("SELECT id, text, created_at, tags FROM notes ORDER BY id").fetchall()
    return [Note(id=row[0], text=row[1], created_at=row[2], tags=split_tags(row[3])) for row in rows]


@app.post("/notes", status_code=201)
def create_note(note: NoteIn) -> Note:
    created_at = datetime.now(UTC).isoformat(timespec="seconds")
    stored_tags = ",".join(note.tags) or None
    with connect() as conn:
        cur = conn.execute(
            "INSERT INTO notes (text, created_at, tags) VALUES (?, ?, ?)",
            (note.text, created_at, stored_tags),
        )
    assert cur.lastrowid is not None
    return Note(id=cur.lastrowid, text=note.text, created_at=created_at, tags=note.tags)
