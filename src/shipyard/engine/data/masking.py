"""Masked copies: ``shipyard backup restore ENV --target OTHER --mask``.

A restore into another environment (``BackupService.restore``: fetch and verify into a
scratch folder, safety backup of the target, swap) with one more step between the fetch
and anything touching the target: ``mask`` reads the scratch copy's schema, checks the
source environment's ``database.masking`` rules against it (``core.masking.plan_masking``:
a rule naming an unknown table or column stops the job there), rewrites the masked
columns, and writes the result into a fresh file (``VACUUM INTO``) so no freed page of the
scratch copy, which still holds the originals, reaches the target. The engine-specific
part is ``SqliteMasker``; ``PgMasker`` masks the scratch cluster a PostgreSQL backup was
recovered into, before ``engine/data/postgres/copies.py`` copies it logically into the target. Called
by the API (``server/backups.py``) through the engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from shipyard.core.jobs import Progress, no_progress
from shipyard.core.masking import Column, MaskPlan, masking_key, plan_masking
from shipyard.drivers.data.postgres import mask as pg_mask
from shipyard.drivers.data.postgres.programs import Conn, Postgres
from shipyard.drivers.data.sqlite import mask as sqlite_mask
from shipyard.drivers.data.sqlite.backup import integrity
from shipyard.engine.data.backups import BackupService
from shipyard.errors import BackupError, ConflictError, ManifestError, NotFoundError

U = TypeVar("U")  # the unit an engine masks: a file (SQLite), a connection (PostgreSQL)


class Masker(Protocol[U]):
    """What an engine provides to mask a scratch copy ``U``: a file for SQLite, the scratch
    cluster's connection for PostgreSQL. ``work`` is the job's private scratch folder."""

    def schema(self, copy: U) -> dict[str, tuple[Column, ...]]: ...

    def apply(self, copy: U, plan: MaskPlan, key: bytes, work: Path) -> int: ...

    def finish(self, copy: U, work: Path) -> U: ...


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


class PgMasker:
    """Masks the scratch cluster a backup was recovered into (``drivers/data/postgres/mask.py``), in
    place: the logical copy into the target (``engine/data/postgres/copies.py``) leaves its freed pages
    behind, so there is nothing to rewrite."""

    def __init__(self, pg: Postgres) -> None:
        self.pg = pg
        self.found = pg_mask.PgSchema()

    def schema(self, copy: Conn) -> dict[str, tuple[Column, ...]]:
        self.found = pg_mask.read_schema(self.pg, copy)
        return self.found.tables

    def apply(self, copy: Conn, plan: MaskPlan, key: bytes, work: Path) -> int:
        return pg_mask.apply_plan(self.pg, copy, self.found, plan, key, work)

    def finish(self, copy: Conn, work: Path) -> Conn:
        return copy


class MaskStep(Generic[U]):
    """The ``mask`` step of a restore: check the rules, mask, rewrite clean."""

    step = "mask"

    def __init__(self, masker: Masker[U], rules: Any, unlisted: str, where: str, key: bytes) -> None:
        self.masker, self.rules, self.unlisted, self.where, self.key = masker, rules, unlisted, where, key
        self.plan: MaskPlan | None = None
        self.rows = 0

    def __call__(self, copy: U, work: Path) -> tuple[U, str]:
        self.plan = plan_masking(self.rules, self.masker.schema(copy), self.unlisted, self.where)
        self.rows = self.masker.apply(copy, self.plan, self.key, work)
        clean = self.masker.finish(copy, work)
        columns = len(self.plan.actions)
        kept = f"; kept without a rule: {', '.join(self.plan.unlisted)}" if self.plan.unlisted else ""
        return clean, f"masked {columns} column(s) in {self.rows} row(s){kept}"


class MaskedCopies:
    def __init__(self, backups: BackupService) -> None:
        self.backups = backups

    def restore(
        self,
        env: str,
        by: str,
        target: str | None,
        backup_id: str | None = None,
        to_time: float | None = None,
        progress: Progress = no_progress,
    ) -> dict[str, Any]:
        """Restore a masked copy of ``env``'s backup into ``target`` (never ``env`` itself)."""
        if target is None or target == env:
            raise ConflictError(
                f"--mask restores a masked copy into another environment, not into {env} itself",
                f"name the copy's environment: `shipyard backup restore {env} --target staging --mask`",
            )
        ctx = self.backups.ctx
        ctx.reload_manifest()  # the rules as shipyard.yaml has them now
        if env not in ctx.manifest.environments:
            known = ", ".join(sorted(ctx.manifest.environments))
            raise NotFoundError(f"environment {env!r} is not in shipyard.yaml (known: {known})", "pick one")
        db = ctx.manifest.database_for(env)
        own = ctx.manifest.environments[env].database
        where = "database.masking"
        if own is not None and "masking" in own.model_fields_set:
            where = f"environments.{env}.database.masking"
        if not db.masking:
            raise ManifestError(
                f"{ctx.paths.manifest}: {where} is empty: --mask has no rules to apply",
                "declare the rules, e.g. database.masking: {users: {email: fake_email, name: fake_name}}",
            )
        key = masking_key(self.backups.key().key)
        step: MaskStep[Path] | MaskStep[Conn]
        if db.engine == "postgres":
            step = MaskStep(
                PgMasker(self.backups.pg.clusters.pg), db.masking, db.masking_unlisted, where, key
            )
        else:
            step = MaskStep(SqliteMasker(), db.masking, db.masking_unlisted, where, key)
        done = self.backups.restore(env, by, backup_id, target, to_time, prepare=step, progress=progress)
        plan = step.plan
        return {
            **done,
            "masked": [f"{a.table}.{a.column}: {a.rule}" for a in plan.actions] if plan else [],
            "unmasked": list(plan.unlisted) if plan else [],
            "rows": step.rows,
        }
