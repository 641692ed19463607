"""What a log search asks for, from what the user typed; and what retention must do.

Pure decisions, called by the log service (``engine/logs.py``):

- ``text_match``: ``--grep TEXT`` as an FTS5 query: its words as one phrase, the last
  word a prefix (``--grep "disk ful"`` finds "disk full"), every quote escaped, so no
  input is ever an FTS5 syntax error; text without a word (``--grep "->"``) is matched
  as a plain substring instead.
- ``parse_when``: ``--since 10m`` (an age), an ISO 8601 time or epoch seconds.
- ``retention_plan``: which lines go to cold archives and which archives are deleted,
  given each environment's hot and cold ages and the clock.
- ``pressure_plan``: how many of the oldest lines leave the store when it is full.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from shipyard.core.durations import parse_duration

_WORDS = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class TextMatch:
    fts: str | None  # an FTS5 query, or None
    substring: str | None  # a plain substring, when the text has no word


def text_match(text: str) -> TextMatch:
    words = _WORDS.findall(text)
    if not words:
        return TextMatch(None, text) if text.strip() else TextMatch(None, None)
    phrase = " ".join(words).replace('"', '""')
    prefix = "*" if text.rstrip()[-1:].isalnum() or text.rstrip().endswith("_") else ""
    return TextMatch(f'"{phrase}"{prefix}', None)


def parse_when(value: str, now: float) -> float:
    """Epoch seconds for ``--since``/``--until``: ``10m`` (ago), ``2026-11-30T12:00``, or a number."""
    text = value.strip()
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ValueError(
            f"{value!r} is not a time: write an age such as 10m, 2h or 7d, "
            "or a time such as 2026-11-30T12:00:00"
        ) from None


@dataclass(frozen=True)
class ArchiveInfo:
    path: str
    env: str
    last_at: float  # the time of its newest line


@dataclass(frozen=True)
class RetentionPlan:
    archive_before: dict[str, float]  # env -> lines older than this go to a cold archive
    delete: tuple[str, ...]  # archives past their environment's cold age


def retention_plan(
    retention: dict[str, tuple[float, float]],
    default: tuple[float, float],
    stored_envs: list[str],
    archives: list[ArchiveInfo],
    now: float,
) -> RetentionPlan:
    """``retention``: env -> (hot, cold) seconds; environments no longer in the manifest
    (still in the store) keep the top-level ``default``."""

    def ages(env: str) -> tuple[float, float]:
        return retention.get(env, default)

    cutoffs = {env: now - ages(env)[0] for env in sorted(set(stored_envs) | set(retention))}
    gone = tuple(a.path for a in archives if a.last_at < now - ages(a.env)[1])
    return RetentionPlan(cutoffs, gone)


PRESSURE_SHARE = 0.1  # a full store sheds this share of its lines (at least PRESSURE_MIN) at a time
PRESSURE_MIN = 1000


def pressure_plan(stored_lines: int) -> int:
    """How many of the oldest lines a full store archives before it takes new ones again."""
    if stored_lines <= 0:
        return 0
    return min(stored_lines, max(PRESSURE_MIN, int(stored_lines * PRESSURE_SHARE)))
