"""Each environment's desired web count and the autoscaler's decisions, in the state store.

``autoscale`` holds one row per environment: the count the autoscaler decided (``desired``)
and a count an operator pinned (``pinned``, with who and when; null when automatic).
``autoscale_decisions`` keeps each evaluation: the count before and after, the raw
recommendation, the metric values, the rule that decided and the reason for holding. The
autoscaler (``engine/delivery/autoscale.py``) writes both in one transaction, so a restarted
control plane resumes from the count it stored; ``Context.web_count`` and the API read them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from shipyard.state.schema import metadata

KEEP = 2000  # decisions kept per environment

autoscale = sa.Table(  # migration 0012
    "autoscale",
    metadata,
    sa.Column("env", sa.String, primary_key=True),
    sa.Column("desired", sa.Integer, nullable=False),
    sa.Column("pinned", sa.Integer),
    sa.Column("pinned_by", sa.String, nullable=False, server_default=""),
    sa.Column("updated_at", sa.Float, nullable=False),
)

autoscale_decisions = sa.Table(
    "autoscale_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("env", sa.String, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("current", sa.Integer, nullable=False),
    sa.Column("desired", sa.Integer, nullable=False),
    sa.Column("recommendation", sa.Integer, nullable=False),
    sa.Column("rule", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),  # JSON: metric -> value or null
    sa.Index("ix_autoscale_decisions_env_at", "env", "at"),
)


@dataclass(frozen=True)
class ScaleState:
    env: str
    desired: int
    pinned: int | None
    pinned_by: str
    updated_at: float

    @property
    def count(self) -> int:
        """The count to run: the pinned one, else the desired one."""
        return self.pinned if self.pinned is not None else self.desired


class AutoscaleStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def get(self, env: str) -> ScaleState | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(autoscale).where(autoscale.c.env == env)).mappings().first()
        return ScaleState(**row) if row else None

    def record(
        self,
        env: str,
        decision: dict[str, Any],
        desired: int | None,
        pinned: tuple[int | None, str] | None = None,
    ) -> None:
        """Store one decision and, in the same transaction, the new desired count (None: as
        before) or pin (``(count or None, by)``)."""
        at = float(decision["at"])
        with self._engine.begin() as conn:
            row = conn.execute(sa.select(autoscale).where(autoscale.c.env == env)).mappings().first()
            values: dict[str, Any] = {"updated_at": at}
            if desired is not None:
                values["desired"] = desired
            if pinned is not None:
                values["pinned"], values["pinned_by"] = pinned
            if row is None:
                base = {"desired": decision["current"], "pinned": None, "pinned_by": ""}
                conn.execute(sa.insert(autoscale).values(env=env, **{**base, **values}))
            else:
                conn.execute(sa.update(autoscale).where(autoscale.c.env == env).values(**values))
            conn.execute(
                sa.insert(autoscale_decisions).values(
                    env=env,
                    at=at,
                    current=decision["current"],
                    desired=decision["desired"],
                    recommendation=decision["recommendation"],
                    rule=decision["rule"],
                    reason=decision["reason"],
                    metrics=json.dumps(decision["metrics"], sort_keys=True),
                )
            )
            old = sa.select(autoscale_decisions.c.id).where(autoscale_decisions.c.env == env)
            cut = old.order_by(autoscale_decisions.c.id.desc()).offset(KEEP).limit(1).scalar_subquery()
            conn.execute(
                sa.delete(autoscale_decisions).where(
                    autoscale_decisions.c.env == env, autoscale_decisions.c.id <= cut
                )
            )

    def decisions(self, env: str, limit: int = 50, since: float | None = None) -> list[dict[str, Any]]:
        """The newest ``limit`` decisions (oldest first), or those since ``since``."""
        query = sa.select(autoscale_decisions).where(autoscale_decisions.c.env == env)
        if since is not None:
            query = query.where(autoscale_decisions.c.at >= since)
        query = query.order_by(autoscale_decisions.c.id.desc()).limit(limit)
        with self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        out = [{**row, "metrics": json.loads(row["metrics"])} for row in reversed(rows)]
        for row in out:
            del row["env"]
        return out
