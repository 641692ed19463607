"""The user's verify query suite, run after a verification's built-in checks.

``with_queries`` runs ``database.backups.verify_queries`` through the engine's runner for the
restored copy (``drivers/data/db_query.py``: a read-only SQLite file, or a read-only session of
the scratch cluster) and folds the outcome into the verdict: a failed query fails the
verification and its detail names the query, what it returned and what was expected.
Called by ``engine/data/backups.py`` (SQLite), ``engine/data/postgres/backups.py`` and the drills.
"""

from __future__ import annotations

from collections.abc import Callable

from shipyard.core.verify_queries import QueryCheck, run_suite, summarize
from shipyard.drivers.data.db_query import Rows
from shipyard.manifest.database import Backups


def with_queries(
    ok: bool, detail: str, backups: Backups, run: Callable[[str, float], Rows]
) -> tuple[bool, str, tuple[QueryCheck, ...]]:
    """The built-in checks' verdict and detail, with the user's verify queries run after them."""
    if not backups.verify_queries:
        return ok, detail, ()
    checks = run_suite(backups.verify_queries, run)
    passed, said = summarize(checks)
    return ok and passed, f"{detail}; {said}", checks
