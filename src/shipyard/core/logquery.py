"""What a log search asks for, from what the user typed; and what retention must do.

Pure decisions, called by the log service (``engine/observe/logs.py``):

- ``text_match``: ``--grep TEXT`` as an FTS5 query (each word, the last one as a prefix
  when it has at least ``PREFIX_MIN`` characters, quoted so no input is ever an FTS5
  syntax error) that narrows the lines through the index, and the text itself, which the
  lines found must then contain (ASCII letters in any case): ``--grep "disk ful"`` finds
  "Disk full", not "full disk". Text without a word (``--grep "->"``) is matched as a
  substring alone.
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
PREFIX_MIN = 3  # a shorter last word is a whole word: "a"* would read the doclist of every a... word


@dataclass(frozen=True)
class TextMatch:
    fts: str | None  # an FTS5 query, or None
    substring: str | None  # what each line must contain, its ASCII letters lowered


def ascii_lower(text: str) -> str:
    """Lowercase as SQLite's lower() does: ASCII letters only."""
    return "".join(c.lower() if c.isascii() else c for c in text)


def text_match(text: str) -> TextMatch:
    needle = text.strip()
    if not needle:
        return TextMatch(None, None)
    words = _WORDS.findall(needle)
    if not words:
        return TextMatch(None, ascii_lower(needle))
    terms = ['"' + word.replace('"', '""') + '"' for word in words]
    if (needle[-1].isalnum() or needle[-1] == "_") and len(words[-1]) >= PREFIX_MIN:
        terms[-1] += "*"  # the last word may go on
    return TextMatch(" AND ".join(terms), ascii_lower(needle))


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
