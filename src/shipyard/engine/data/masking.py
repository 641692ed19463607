"""Masked copies: ``shipyard backup restore ENV --target OTHER --mask``.

A restore into another environment (``BackupService.restore``: fetch and verify into a
scratch folder, safety backup of the target, swap) with one more step between the fetch
and anything touching the target: ``mask`` reads the scratch copy's schema, checks the
source environment's ``database.masking`` rules against it (``core.masking.plan_masking``:
a rule naming an unknown table or column stops the job there), rewrites the masked
columns, and writes the result into a fresh file (``VACUUM INTO``) so no freed page of the
scratch copy, which still holds the originals, reaches the target. The engine-specific
part is the engine's ``Masker`` (``engine/data/engines.py``): ``SqliteMasker``
(``engine/data/sqlite/mask.py``), or ``PgMasker`` (``engine/data/postgres/mask.py``), which
masks the scratch cluster a PostgreSQL backup was recovered into, before
``engine/data/postgres/copies.py`` copies it logically into the target. Called by the API
(``server/backups.py``) through the engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Generic

from shipyard.core.jobs import Progress, no_progress
from shipyard.core.masking import MaskPlan, masking_key, plan_masking
from shipyard.engine.data.backups import BackupService
from shipyard.engine.data.engines import Masker, U
from shipyard.errors import ConflictError, ManifestError, NotFoundError


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
        masker = self.backups.engines.for_env(env).masker()
        step = MaskStep(masker, db.masking, db.masking_unlisted, where, key)
        done = self.backups.restore(env, by, backup_id, target, to_time, prepare=step, progress=progress)
        plan = step.plan
        return {
            **done,
            "masked": [f"{a.table}.{a.column}: {a.rule}" for a in plan.actions] if plan else [],
            "unmasked": list(plan.unlisted) if plan else [],
            "rows": step.rows,
        }
