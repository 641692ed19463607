"""Alert states, notification groups, silences, deliveries, metric points and health history.

``StateStore.observe`` is this store; the engine's alerting loop and the API call it. Each
method is one transaction: an evaluation's alert states and the routing groups it changed
are saved together, so a control plane killed between two evaluations resumes with the same
pending/firing alerts and does not notify again what it already sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update

from shipyard.core.alerts import Alert
from shipyard.core.routing import Group, Silence
from shipyard.errors import NotFoundError
from shipyard.state.schema import (
    alert_groups,
    alert_states,
    deliveries,
    health_history,
    metric_points,
    silences,
)

Row = dict[str, Any]
KEEP_DELIVERIES = 1000


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in json.loads(text).items()))


def _group_row(g: Group) -> Row:
    return {
        "key": g.key,
        "receiver": g.receiver,
        "labels": json.dumps([list(p) for p in g.labels]),
        "first_seen": g.first_seen,
        "last_sent_at": g.last_sent_at,
        "sent_firing": json.dumps(sorted(g.sent_firing)),
    }


class ObserveStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # alerts and groups ------------------------------------------------------------------------
    def alerts(self) -> list[Alert]:
        with self._engine.begin() as conn:
            rows = conn.execute(select(alert_states).order_by(alert_states.c.active_since)).mappings()
            return [
                Alert(
                    rule=row["rule"],
                    fingerprint=row["fingerprint"],
                    labels=_pairs(row["labels"]),
                    annotations=_pairs(row["annotations"]),
                    state=row["state"],
                    active_since=row["active_since"],
                    fired_at=row["fired_at"],
                    resolved_at=row["resolved_at"],
                    last_true_at=row["last_true_at"],
                    value=row["value"],
                )
                for row in rows
            ]

    def groups(self) -> dict[str, Group]:
        with self._engine.begin() as conn:
            rows = conn.execute(select(alert_groups)).mappings()
            return {
                row["key"]: Group(
                    key=row["key"],
                    receiver=row["receiver"],
                    labels=tuple((k, v) for k, v in json.loads(row["labels"])),
                    first_seen=row["first_seen"],
                    last_sent_at=row["last_sent_at"],
                    sent_firing=frozenset(json.loads(row["sent_firing"])),
                )
                for row in rows
            }

    def save_evaluation(self, alerts: Iterable[Alert], groups: dict[str, Group]) -> None:
        """Replace every alert state and routing group, in one transaction."""
        now = time.time()
        alert_rows = [
            {
                "fingerprint": a.fingerprint,
                "rule": a.rule,
                "labels": json.dumps(dict(a.labels)),
                "annotations": json.dumps(dict(a.annotations)),
                "state": a.state,
                "active_since": a.active_since,
                "fired_at": a.fired_at,
                "resolved_at": a.resolved_at,
                "last_true_at": a.last_true_at,
                "value": a.value,
                "updated_at": now,
            }
            for a in alerts
        ]
        group_rows = [_group_row(g) for g in groups.values()]
        with self._engine.begin() as conn:
            conn.execute(delete(alert_states))
            conn.execute(delete(alert_groups))
            if alert_rows:
                conn.execute(insert(alert_states), alert_rows)
            if group_rows:
                conn.execute(insert(alert_groups), group_rows)

    def save_groups(self, groups: dict[str, Group]) -> None:
        rows = [_group_row(g) for g in groups.values()]
        with self._engine.begin() as conn:
            conn.execute(delete(alert_groups))
            if rows:
                conn.execute(insert(alert_groups), rows)

    # silences ---------------------------------------------------------------------------------
    def add_silence(self, matchers: dict[str, str], ends_at: float, by: str, comment: str) -> int:
        now = time.time()
        with self._engine.begin() as conn:
            new = conn.execute(
                insert(silences).values(
                    matchers=json.dumps(matchers, sort_keys=True),
                    starts_at=now,
                    ends_at=ends_at,
                    created_by=by,
                    comment=comment,
                    created_at=now,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        return int(new)

    def silences(self, active_at: float | None = None) -> list[Silence]:
        query = select(silences).order_by(silences.c.id)
        if active_at is not None:
            query = query.where(silences.c.ends_at > active_at, silences.c.starts_at <= active_at)
        with self._engine.begin() as conn:
            return [
                Silence(
                    id=row["id"],
                    matchers=_pairs(row["matchers"]),
                    starts_at=row["starts_at"],
                    ends_at=row["ends_at"],
                    created_by=row["created_by"],
                    comment=row["comment"],
                )
                for row in conn.execute(query).mappings()
            ]

    def expire_silence(self, silence_id: int) -> None:
        now = time.time()
        with self._engine.begin() as conn:
            done = conn.execute(
                update(silences)
                .where(silences.c.id == silence_id, silences.c.ends_at > now)
                .values(ends_at=now)
            )
            if not done.rowcount:
                found = conn.execute(select(silences.c.id).where(silences.c.id == silence_id)).first()
                if found is None:
                    raise NotFoundError(
                        f"silence {silence_id} does not exist", "list silences with `shipyard alerts list`"
                    )

    # deliveries -------------------------------------------------------------------------------
    def record_delivery(self, row: Row) -> None:
        with self._engine.begin() as conn:
            new = conn.execute(insert(deliveries).values(**row)).inserted_primary_key[0]  # type: ignore[index]
            conn.execute(delete(deliveries).where(deliveries.c.id <= int(new) - KEEP_DELIVERIES))

    def deliveries(self, limit: int = 20) -> list[Row]:
        with self._engine.begin() as conn:
            rows = conn.execute(select(deliveries).order_by(deliveries.c.id.desc()).limit(limit)).mappings()
            return [dict(row) for row in rows]

    # metrics ------------------------------------------------------------------------------------
    def add_points(self, rows: list[Row]) -> None:
        if rows:
            with self._engine.begin() as conn:
                conn.execute(insert(metric_points), rows)

    def points(self, env: str, since: float, resolution: int) -> list[Row]:
        query = (
            select(metric_points)
            .where(metric_points.c.env == env, metric_points.c.resolution == resolution)
            .where(metric_points.c.at >= since)
            .order_by(metric_points.c.at, metric_points.c.metric, metric_points.c.series)
        )
        with self._engine.begin() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def points_between(self, resolution: int, since: float, until: float) -> list[Row]:
        query = select(metric_points).where(
            metric_points.c.resolution == resolution, metric_points.c.at >= since, metric_points.c.at < until
        )
        with self._engine.begin() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def lowest_value(self, env: str, metric: str, series: str, since: float) -> float | None:
        """The lowest raw value of one series since ``since`` (None: no point)."""
        query = select(func.min(metric_points.c.value)).where(
            metric_points.c.env == env,
            metric_points.c.resolution == 0,
            metric_points.c.at >= since,
            metric_points.c.metric == metric,
            metric_points.c.series == series,
        )
        with self._engine.begin() as conn:
            found = conn.execute(query).scalar()
        return float(found) if found is not None else None

    def first_point_at(self, resolution: int) -> float | None:
        with self._engine.begin() as conn:
            found = conn.execute(
                select(func.min(metric_points.c.at)).where(metric_points.c.resolution == resolution)
            ).scalar()
        return float(found) if found is not None else None

    def last_point_at(self, resolution: int) -> float | None:
        with self._engine.begin() as conn:
            found = conn.execute(
                select(func.max(metric_points.c.at)).where(metric_points.c.resolution == resolution)
            ).scalar()
        return float(found) if found is not None else None

    def replace_points(self, resolution: int, since: float, until: float, rows: list[Row]) -> None:
        """Swap the points of ``resolution`` in [since, until) for ``rows`` (downsampling)."""
        with self._engine.begin() as conn:
            conn.execute(
                delete(metric_points).where(
                    metric_points.c.resolution == resolution,
                    metric_points.c.at >= since,
                    metric_points.c.at < until,
                )
            )
            if rows:
                conn.execute(insert(metric_points), rows)

    def drop_points(self, resolution: int, before: float) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                delete(metric_points).where(
                    metric_points.c.resolution == resolution, metric_points.c.at < before
                )
            )

    # health history -----------------------------------------------------------------------------
    def add_health(self, row: Row) -> None:
        with self._engine.begin() as conn:
            conn.execute(insert(health_history).values(**row))

    def health_history(self, env: str, limit: int = 50) -> list[Row]:
        query = (
            select(health_history)
            .where(health_history.c.env == env)
            .order_by(health_history.c.id.desc())
            .limit(limit)
        )
        with self._engine.begin() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def drop_health(self, before: float) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(health_history).where(health_history.c.at < before))
