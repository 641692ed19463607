"""How a PostgreSQL engine masks a restore's scratch cluster (``engine/data/masking.py`` runs the step)."""

from __future__ import annotations

from pathlib import Path

from shipyard.core.masking import Column, MaskPlan
from shipyard.drivers.data.interface import Conn, PostgresPrograms
from shipyard.drivers.data.postgres import mask as pg_mask


class PgMasker:
    """Masks the scratch cluster a backup was recovered into (``drivers/data/postgres/mask.py``), in
    place: the logical copy into the target (``engine/data/postgres/copies.py``) leaves its freed pages
    behind, so there is nothing to rewrite."""

    def __init__(self, pg: PostgresPrograms) -> None:
        self.pg = pg
        self.found = pg_mask.PgSchema()

    def schema(self, copy: Conn) -> dict[str, tuple[Column, ...]]:
        self.found = pg_mask.read_schema(self.pg, copy)
        return self.found.tables

    def apply(self, copy: Conn, plan: MaskPlan, key: bytes, work: Path) -> int:
        return pg_mask.apply_plan(self.pg, copy, self.found, plan, key, work)

    def finish(self, copy: Conn, work: Path) -> Conn:
        return copy
