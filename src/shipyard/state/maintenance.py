"""The environments whose maintenance page is on, in the state store's SQLite file.

``engine/delivery/maintenance.py`` writes a row when the page goes on and deletes it when it goes
off; ``Context.sync_proxy`` reads them into the proxy layout, so the page survives a restart of
the control plane (and of HAProxy). Each method is one transaction.
"""

from __future__ import annotations

import json

from sqlalchemy import Column, Engine, Float, String, Table, Text, delete, insert, select

from shipyard.core.edge import Maintenance
from shipyard.state.schema import metadata

# migration 0009; the one table of this store, so it is declared here rather than in schema.py
maintenance = Table(
    "maintenance",
    metadata,
    Column("env", String, primary_key=True),
    Column("message", Text, nullable=False),
    Column("allow", Text, nullable=False),  # JSON list of networks that still reach the app
    Column("since", Float, nullable=False),
    Column("by", String, nullable=False),
)


class MaintenanceStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def all(self) -> dict[str, Maintenance]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(maintenance)).mappings().all()
        return {
            row["env"]: Maintenance(row["message"], tuple(json.loads(row["allow"])), row["since"], row["by"])
            for row in rows
        }

    def put(self, env: str, page: Maintenance) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(maintenance).where(maintenance.c.env == env))
            conn.execute(
                insert(maintenance).values(
                    env=env,
                    message=page.message,
                    allow=json.dumps(list(page.allow)),
                    since=page.since,
                    by=page.by,
                )
            )

    def remove(self, env: str) -> bool:
        """Delete ``env``'s row; whether there was one."""
        with self._engine.begin() as conn:
            return bool(conn.execute(delete(maintenance).where(maintenance.c.env == env)).rowcount)
