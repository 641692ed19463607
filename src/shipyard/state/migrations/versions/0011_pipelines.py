"""pipelines: runs of a release's pipeline, their stages (results, gates, output), and the git
commit a release was built from (for lead time)

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("release_id", sa.String(), sa.ForeignKey("releases.id"), nullable=False),
        sa.Column("build_id", sa.String(), nullable=False),
        sa.Column("env", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("requested_by", sa.String(), nullable=False),
        sa.Column("trigger", sa.String(), nullable=False),
        sa.Column("job_id", sa.Integer()),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("started_at", sa.Float()),
        sa.Column("finished_at", sa.Float()),
        sa.Column("failed_stage", sa.String()),
        sa.Column("message", sa.Text(), nullable=False, server_default=""),
    )
    op.create_index("ix_pipeline_runs_build_id", "pipeline_runs", ["build_id"])
    op.create_table(
        "pipeline_stages",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("pipeline_runs.id"), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("started_at", sa.Float()),
        sa.Column("finished_at", sa.Float()),
        sa.Column("detail", sa.Text(), nullable=False, server_default=""),
        sa.Column("gates", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("output", sa.Text(), nullable=False, server_default=""),
        sa.UniqueConstraint("run_id", "name"),
    )
    op.create_table(
        "release_commits",
        sa.Column("release_id", sa.String(), sa.ForeignKey("releases.id"), primary_key=True),
        sa.Column("commit", sa.String(), nullable=False),
        sa.Column("committed_at", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_table("release_commits")
    op.drop_table("pipeline_stages")
    op.drop_index("ix_pipeline_runs_build_id", "pipeline_runs")
    op.drop_table("pipeline_runs")
