"""Searching and exporting the central logs: the filters a user typed, checked and applied.

Called through the log service (``engine/observe/logs.py``) by the API's log routes. A search
answers the newest matching lines (or, with ``after``, the next ones after a cursor, which
is how ``shipyard logs -f`` follows); an export yields every matching line, the cold
archives' first (filtered here, as they have no index), then the store's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from shipyard.core import logquery
from shipyard.core.logline import level_name, parse_level_filter
from shipyard.core.logquery import ascii_lower
from shipyard.drivers.observe.logarchive import read_archive
from shipyard.errors import NotFoundError, QueryError
from shipyard.manifest.models import Manifest
from shipyard.state.logs import Filter, LogStore

SEARCH_LIMIT_MAX = 5000


@dataclass(frozen=True)
class LogQuery:
    """What a user asks of the logs, as typed (``shipyard logs --since 10m --grep ...``)."""

    since: str | None = None
    until: str | None = None
    level: str | None = None
    grep: str | None = None
    release: str | None = None


def _filter(store: LogStore, manifest: Manifest, env: str, query: LogQuery, now: float) -> Filter:
    since, until, level, grep, release = query.since, query.until, query.level, query.grep, query.release
    if env not in manifest.environments and env not in store.envs():
        raise NotFoundError(
            f"environment {env!r} has no logs and is not in shipyard.yaml",
            f"pick one of: {', '.join(sorted(manifest.environments))}",
        )
    try:
        start = logquery.parse_when(since, now) if since else None
        end = logquery.parse_when(until, now) if until else None
        min_level = parse_level_filter(level) if level else None
    except ValueError as exc:
        raise QueryError(str(exc), "see `shipyard logs --help`") from None
    match = logquery.text_match(grep or "")
    return Filter(env, start, end, min_level, release or None, match.fts, match.substring)


def search(
    store: LogStore,
    manifest: Manifest,
    env: str,
    query: LogQuery,
    limit: int = 200,
    after: int | None = None,
) -> dict[str, Any]:
    """Matching lines, oldest first: the newest ``limit`` ones, or (``after``) the next ones
    after that cursor. ``cursor`` is where a follow-up call for newer lines starts."""
    where = _filter(store, manifest, env, query, time.time())
    limit = max(1, min(limit, SEARCH_LIMIT_MAX))
    cursor = store.last_id()  # read first: lines stored meanwhile come in the next call
    where = replace(where, upto_id=cursor)
    if after is None:
        lines = store.search(where, limit)[::-1]
    else:
        lines = list(_take(store.scan(replace(where, after_id=after)), limit))
        cursor = int(lines[-1]["id"]) if len(lines) == limit else max(cursor, after)
    return {"lines": [_shown(line) for line in lines], "cursor": cursor}


def export(store: LogStore, manifest: Manifest, env: str, query: LogQuery) -> Iterator[dict[str, Any]]:
    """Every matching line, oldest first: the cold archives' then the store's."""
    where = _filter(store, manifest, env, query, time.time())
    for archive in store.archives(env):
        if (where.since and archive.last_at < where.since) or (
            where.until and archive.first_at >= where.until
        ):
            continue
        for row in read_archive(Path(archive.path)):
            if _keeps(row, where):
                yield _shown(row)
    for row in store.scan(where):
        yield _shown(row)


def _keeps(row: dict[str, Any], where: Filter) -> bool:
    """The search filter applied to an archived line (no index there)."""
    return (
        (where.since is None or row["at"] >= where.since)
        and (where.until is None or row["at"] < where.until)
        and (where.min_level is None or row["level"] >= where.min_level)
        and (where.release is None or row["release"] == where.release)
        and (not where.contains or where.contains in ascii_lower(row["message"]))
    )


def _take(rows: Iterator[dict[str, Any]], limit: int) -> Iterator[dict[str, Any]]:
    for i, row in enumerate(rows):
        if i >= limit:
            return
        yield row


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    """A stored line as the API shows it: the level by name, the flags as words."""
    flags = int(row.get("flags") or 0)
    return {
        **{k: v for k, v in row.items() if k != "flags"},
        "level": level_name(int(row["level"])),
        "truncated": bool(flags & 1),
        "invalid_utf8": bool(flags & 2),
    }
