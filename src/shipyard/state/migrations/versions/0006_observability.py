"""observability: alert states, notification groups, silences, deliveries, metrics, health history

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_states",
        sa.Column("fingerprint", sa.String(), primary_key=True),
        sa.Column("rule", sa.String(), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("annotations", sa.Text(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("active_since", sa.Float(), nullable=False),
        sa.Column("fired_at", sa.Float(), nullable=True),
        sa.Column("resolved_at", sa.Float(), nullable=True),
        sa.Column("last_true_at", sa.Float(), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "alert_groups",
        sa.Column("key", sa.String(), primary_key=True),
        sa.Column("receiver", sa.String(), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("first_seen", sa.Float(), nullable=False),
        sa.Column("last_sent_at", sa.Float(), nullable=True),
        sa.Column("sent_firing", sa.Text(), nullable=False),
    )
    op.create_table(
        "silences",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("matchers", sa.Text(), nullable=False),
        sa.Column("starts_at", sa.Float(), nullable=False),
        sa.Column("ends_at", sa.Float(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("receiver", sa.String(), nullable=False),
        sa.Column("receiver_kind", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("env", sa.String(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_index("ix_deliveries_at", "deliveries", ["at"])
    op.create_table(
        "metric_points",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("env", sa.String(), nullable=False),
        sa.Column("metric", sa.String(), nullable=False),
        sa.Column("series", sa.String(), nullable=False),
        sa.Column("resolution", sa.Integer(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
    )
    op.create_index("ix_metric_points_env_res_at", "metric_points", ["env", "resolution", "at"])
    op.create_table(
        "health_history",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("env", sa.String(), nullable=False),
        sa.Column("instance", sa.String(), nullable=False),
        sa.Column("release_id", sa.String(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_index("ix_health_history_env_at", "health_history", ["env", "at"])


def downgrade() -> None:
    for table in (
        "health_history",
        "metric_points",
        "deliveries",
        "silences",
        "alert_groups",
        "alert_states",
    ):
        op.drop_table(table)
