"""approvals of deployments; the checksum each deployment verified; each release's configuration

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approvals",
        sa.Column("deployment_id", sa.Integer(), sa.ForeignKey("deployments.id"), primary_key=True),
        sa.Column("env", sa.String(), nullable=False),
        sa.Column("requested_by", sa.String(), nullable=False),
        sa.Column("requested_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("decided_by", sa.String(), nullable=True),
        sa.Column("decided_at", sa.Float(), nullable=True),
        sa.Column("decision", sa.String(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
    )
    op.create_index("ix_approvals_env", "approvals", ["env"])
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("checksum", sa.String(), nullable=True))
    with op.batch_alter_table("releases") as batch:
        batch.add_column(sa.Column("config", sa.Text(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("base_release", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("releases") as batch:
        batch.drop_column("base_release")
        batch.drop_column("config")
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("checksum")
    op.drop_index("ix_approvals_env", "approvals")
    op.drop_table("approvals")
