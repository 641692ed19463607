"""instances.process (workers beside web; existing rows are web) and cron_runs (the history of
the manifest's scheduled jobs)

Lossless: every existing instance row becomes a ``web`` instance, as it was; the downgrade drops
the worker rows (only web existed before) and the column, and the run history.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("process", sa.String(), nullable=False, server_default="web"))
    op.create_table(
        "cron_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("env", sa.String(), nullable=False),
        sa.Column("job", sa.String(), nullable=False),
        sa.Column("release_id", sa.String(), nullable=False),
        sa.Column("trigger", sa.String(), nullable=False),
        sa.Column("requested_by", sa.String(), nullable=False),
        sa.Column("scheduled_at", sa.Float(), nullable=True),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("output", sa.Text(), nullable=False, server_default=""),
    )
    op.create_index("ix_cron_runs_env_job", "cron_runs", ["env", "job"])


def downgrade() -> None:
    op.drop_index("ix_cron_runs_env_job", "cron_runs")
    op.drop_table("cron_runs")
    op.execute("DELETE FROM instances WHERE process != 'web'")
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("process")
