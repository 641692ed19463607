"""Disaster-recovery drills: what was measured, the verdict, and the drills file. Pure.

A drill writes a marker row into the live database, declares the database lost at
``loss_at``, restores the latest recoverable state into a scratch location and measures:

- **RTO**: seconds from the start of the restore to a restored database that answers a query;
- **RPO**: how old the newest recovered change was at the loss. If the marker came back,
  ``loss_at - marker_at`` (a change that old was safe); if not, ``loss_at - recovered_to``,
  where ``recovered_to`` is the newest moment the restored state holds (a snapshot's time,
  or the last WAL segment replayed).

``verdict`` compares both with ``database.drill``'s targets. Drills are kept per environment
in ``drills.json`` next to the backup catalog. Called by ``engine/data/drill.py``.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from shipyard.core.cron import due
from shipyard.core.verify_queries import QueryCheck
from shipyard.errors import BackupError

DRILLS_FORMAT = 1
KEEP_DRILLS = 500


@dataclass(frozen=True)
class Measured:
    rto_s: float
    rpo_s: float
    marker_recovered: bool


@dataclass(frozen=True)
class DrillRecord:
    id: str
    env: str
    kind: str  # "manual" or "scheduled"
    by: str
    started_at: float
    finished_at: float
    rto_target_s: float
    rpo_target_s: float
    status: str  # "passed", "failed" (a target missed) or "error" (nothing could be restored)
    loss_at: float | None = None
    marker_at: float | None = None
    marker_recovered: bool = False
    backup: str | None = None
    recovered_to: float | None = None
    rto_s: float | None = None
    rpo_s: float | None = None
    rto_ok: bool = False
    rpo_ok: bool = False
    error: str = ""
    detail: str = ""
    queries: tuple[QueryCheck, ...] = ()  # database.backups.verify_queries on the restored copy

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> DrillRecord:
        queries = tuple(QueryCheck(**q) for q in data.get("queries", ()))
        return DrillRecord(**{**data, "queries": queries})


@dataclass(frozen=True)
class Recovered:
    """What a drill engine restored: the backup, the newest moment it holds, whether the
    marker came back, when (monotonic) the restored database first answered, and the
    user's verify queries on it."""

    backup: str
    recovered_to: float
    marker_recovered: bool
    answered: float
    queries: tuple[QueryCheck, ...] = ()


def measure(
    loss_at: float, restore_started: float, answered: float, marker_at: float, marker_recovered: bool,
    recovered_to: float,
) -> Measured:  # fmt: skip
    """RTO and RPO of one drill (``restore_started``/``answered`` on a monotonic clock)."""
    rto = max(0.0, answered - restore_started)
    newest = marker_at if marker_recovered else recovered_to
    return Measured(round(rto, 3), round(max(0.0, loss_at - newest), 3), marker_recovered)


def verdict(measured: Measured, rto_target_s: float, rpo_target_s: float) -> tuple[bool, bool, str]:
    """(rto_ok, rpo_ok, status): a drill passes when both targets are met."""
    rto_ok = measured.rto_s <= rto_target_s
    rpo_ok = measured.rpo_s <= rpo_target_s
    return rto_ok, rpo_ok, "passed" if rto_ok and rpo_ok else "failed"


def latest_recoverable(candidates: Sequence[tuple[str, float]]) -> tuple[str, float] | None:
    """Of (backup id, newest moment it restores), the one that restores the newest state;
    the later one of equals (a newer backup is the safer choice)."""
    best: tuple[str, float] | None = None
    for candidate in candidates:
        if best is None or candidate[1] >= best[1]:
            best = candidate
    return best


def held_at_loss(
    start: float, end: float, loss_at: float, confirmed: bool | None, seen: float | None
) -> tuple[float, bool]:
    """Of a continuous backup whose stored window is ``start``..``end`` now: the newest moment
    the storage held at ``loss_at``, and whether a marker found in its restore counts.

    ``confirmed`` says whether the drill saw the marker shipped before the loss (None: it did
    not wait, as no shipper runs, so nothing is stored after the loss). When it did not see it,
    what was shipped after the loss may hold the marker: it does not count, and the window
    ends at ``seen``, the newest shipment the drill saw (the window's start without one)."""
    if confirmed is None or confirmed:
        return min(end, loss_at), True
    newest = start if seen is None else min(end, seen)
    return max(start, newest), False


def drill_due(schedule: str | None, drills: Sequence[DrillRecord], since: float, now: float) -> bool:
    """True when ``schedule`` fired after the last scheduled drill (or ``since``, with none)."""
    if schedule is None:
        return False
    last = max((d.started_at for d in drills if d.kind == "scheduled"), default=since)
    return due(schedule, last, now)


def new_drill_id(now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    return f"d-{stamp}-{secrets.token_hex(3)}"


DRILL_ID = re.compile(r"^d-[0-9TZ]+-[0-9a-f]+$")
# the marker in PostgreSQL (a managed cluster's app database, or an external server)
PG_MARKER_TABLE = (
    "CREATE TABLE IF NOT EXISTS shipyard_drill (id text PRIMARY KEY, at double precision NOT NULL)"
)
PG_NO_MARKER_TABLE = "SELECT to_regclass('public.shipyard_drill') IS NULL"
PG_DELETE_MARKERS = (
    "DO $$ BEGIN IF to_regclass('public.shipyard_drill') IS NOT NULL THEN "
    "DELETE FROM public.shipyard_drill; END IF; END $$"
)


def checked_drill_id(drill_id: str) -> str:
    """``drill_id`` if it is one ``new_drill_id`` makes (it goes into SQL text)."""
    if not DRILL_ID.match(drill_id):
        raise ValueError(f"not a drill id: {drill_id!r}")
    return drill_id


def pg_insert_marker(drill_id: str, at: float) -> str:
    return f"INSERT INTO shipyard_drill (id, at) VALUES ('{checked_drill_id(drill_id)}', {at!r})"


def pg_count_marker(drill_id: str) -> str:
    return f"SELECT count(*) FROM public.shipyard_drill WHERE id = '{checked_drill_id(drill_id)}'"


def drills_name(env: str) -> str:
    return f"{env}/drills.json"


def encode_drills(env: str, drills: Sequence[DrillRecord]) -> bytes:
    kept = sorted(drills, key=lambda d: d.started_at)[-KEEP_DRILLS:]
    body = {"format": DRILLS_FORMAT, "env": env, "drills": [d.to_json() for d in kept]}
    return (json.dumps(body, indent=1, sort_keys=True) + "\n").encode()


def decode_drills(env: str, raw: bytes, where: str) -> list[DrillRecord]:
    try:
        body = json.loads(raw)
        if body.get("format") != DRILLS_FORMAT or body.get("env") != env:
            raise ValueError("format or environment does not match")
        return [DrillRecord.from_json(d) for d in body["drills"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BackupError(
            f"the drills file {where} is unreadable ({exc})",
            "move it aside: the next drill starts a new one (past results are in the moved file)",
        ) from None
