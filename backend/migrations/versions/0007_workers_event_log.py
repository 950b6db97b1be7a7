"""workers and a bounded event log: the workers table, stream compaction, an index for
coalescing each run's progress rows

Revision ID: 0007
Revises: 0003
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=255), nullable=False, unique=True),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("gpu_name", sa.String(length=255), nullable=True),
        sa.Column("gpu_memory_mb", sa.Integer(), nullable=True),
        sa.Column("datasets", sa.JSON(), nullable=False),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_worker_seen_at", "worker", ["seen_at"])
    op.create_table(
        "stream_compaction",
        sa.Column("run_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("through_id", sa.BigInteger(), nullable=False),
        sa.Column("kept_id", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_stream_event_run_kind", "stream_event", ["run_id", "kind"])


def downgrade() -> None:
    op.drop_index("ix_stream_event_run_kind", table_name="stream_event")
    op.drop_table("stream_compaction")
    op.drop_index("ix_worker_seen_at", table_name="worker")
    op.drop_table("worker")
