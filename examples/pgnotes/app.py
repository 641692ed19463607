"""Notes on PostgreSQL: the notes example with a managed PostgreSQL database.

Shipyard passes ``DATABASE_URL=postgresql://...`` (``database: {engine: postgres,
managed: true}``); the schema is made by ``migrate.py``, run by the deployment.
"""

import os
from datetime import UTC, datetime
from typing import Any

import psycopg
from fastapi import FastAPI, Response
from pydantic import BaseModel, Field

VERSION = "1.0.0-pg"
app = FastAPI(title="notes-pg")


def connect() -> psycopg.Connection[Any]:
    return psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=5)


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=1000)


@app.get("/")
def index() -> dict[str, str]:
    return {"app": "notes", "version": VERSION, "database": "postgres"}


@app.get("/health")
def health(response: Response) -> dict[str, str]:
    try:
        with connect() as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        response.status_code = 503
        return {"status": "unhealthy", "error": type(exc).__name__}
    return {"status": "ok"}


@app.get("/notes")
def list_notes() -> list[dict[str, Any]]:
    with connect() as conn:
        rows = conn.execute("SELECT id, text, created_at FROM notes ORDER BY id").fetchall()
    return [{"id": r[0], "text": r[1], "created_at": r[2].isoformat()} for r in rows]


@app.post("/notes", status_code=201)
def add_note(note: NoteIn) -> dict[str, Any]:
    now = datetime.now(UTC)
    with connect() as conn:
        row = conn.execute(
            "INSERT INTO notes (text, created_at) VALUES (%s, %s) RETURNING id", (note.text, now)
        ).fetchone()
    assert row is not None
    return {"id": row[0], "text": note.text, "created_at": now.isoformat()}
