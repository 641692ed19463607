"""instances: runtime-neutral identity (endpoint + runtime_ref) instead of port, pid, create_time, log_path

Each row's process fields move, unchanged, into ``runtime_ref`` (the process runtime's JSON:
pid, create_time, log) and its port into ``endpoint`` (``127.0.0.1:<port>``), so a control
plane upgraded while its instances run adopts them. The downgrade moves them back.

Revision ID: 0008
Revises: 0007
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

LOOPBACK = "127.0.0.1"


def upgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("endpoint", sa.String(), nullable=True))
        batch.add_column(sa.Column("runtime_ref", sa.Text(), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, port, pid, create_time, log_path FROM instances")).mappings()
    for row in list(rows):
        ref = json.dumps({"pid": row["pid"], "create_time": row["create_time"], "log": row["log_path"]})
        conn.execute(
            sa.text("UPDATE instances SET endpoint = :endpoint, runtime_ref = :ref WHERE id = :id"),
            {"endpoint": f"{LOOPBACK}:{row['port']}", "ref": ref, "id": row["id"]},
        )
    with op.batch_alter_table("instances") as batch:
        for column in ("port", "pid", "create_time", "log_path"):
            batch.drop_column(column)


def downgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("port", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("create_time", sa.Float(), nullable=True))
        batch.add_column(sa.Column("log_path", sa.Text(), nullable=False, server_default=""))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, endpoint, runtime_ref FROM instances")).mappings()
    for row in list(rows):
        ref = json.loads(row["runtime_ref"]) if row["runtime_ref"] else {}
        port = (row["endpoint"] or ":0").rpartition(":")[2]
        conn.execute(
            sa.text(
                "UPDATE instances SET port = :port, pid = :pid, create_time = :ct, log_path = :log WHERE id = :id"
            ),
            {
                "port": int(port or 0),
                "pid": ref.get("pid"),
                "ct": ref.get("create_time"),
                "log": ref.get("log", ""),
                "id": row["id"],
            },
        )
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("endpoint")
        batch.drop_column("runtime_ref")
