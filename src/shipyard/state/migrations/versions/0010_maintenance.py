"""maintenance: the environments whose maintenance page is on (``shipyard maintenance``)

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "maintenance",
        sa.Column("env", sa.String(), primary_key=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("allow", sa.Text(), nullable=False),  # JSON list of networks
        sa.Column("since", sa.Float(), nullable=False),
        sa.Column("by", sa.String(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("maintenance")
