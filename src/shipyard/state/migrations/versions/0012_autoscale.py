"""autoscale: each environment's desired web count, a pinned count, and the decisions

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "autoscale",
        sa.Column("env", sa.String(), primary_key=True),
        sa.Column("desired", sa.Integer(), nullable=False),
        sa.Column("pinned", sa.Integer()),
        sa.Column("pinned_by", sa.String(), nullable=False, server_default=""),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "autoscale_decisions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("env", sa.String(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("current", sa.Integer(), nullable=False),
        sa.Column("desired", sa.Integer(), nullable=False),
        sa.Column("recommendation", sa.Integer(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("metrics", sa.Text(), nullable=False),
    )
    op.create_index("ix_autoscale_decisions_env_at", "autoscale_decisions", ["env", "at"])


def downgrade() -> None:
    op.drop_index("ix_autoscale_decisions_env_at", "autoscale_decisions")
    op.drop_table("autoscale_decisions")
    op.drop_table("autoscale")
