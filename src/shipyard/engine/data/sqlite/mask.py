"""How a SQLite engine masks a restore's scratch copy (``engine/data/masking.py`` runs the step).

The copy is a file: its schema is read, the masked columns rewritten
(``drivers/data/sqlite/mask.py``), and the result written into a fresh file (``VACUUM INTO``)
so that no freed page of the scratch copy, which still holds the originals, reaches the target.
"""

from __future__ import annotations

from pathlib import Path

from shipyard.core.masking import Column, MaskPlan
from shipyard.drivers.data.sqlite import mask as sqlite_mask
from shipyard.drivers.data.sqlite.backup import integrity
from shipyard.errors import BackupError


class SqliteMasker:
    def schema(self, copy: Path) -> dict[str, tuple[Column, ...]]:
        return sqlite_mask.read_schema(copy)

    def apply(self, copy: Path, plan: MaskPlan, key: bytes, work: Path) -> int:
        return sqlite_mask.apply_plan(copy, plan, key)

    def finish(self, copy: Path, work: Path) -> Path:
        clean = work / "masked.sqlite"
        sqlite_mask.rewrite_clean(copy, clean)
        found = integrity(clean)
        if found != "ok":
            raise BackupError(
                f"the masked copy fails PRAGMA integrity_check: {found}", "report this as a bug"
            )
        copy.unlink()  # the unmasked scratch copy goes as soon as it is not needed
        return clean
