"""run steering: the early-stop rule that ended a run, and its peak memory

Revision ID: 0005
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stopped_by", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("stopped_epoch", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("peak_rss_mb", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("peak_gpu_mb", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run", schema=None) as batch_op:
        for name in ("peak_gpu_mb", "peak_rss_mb", "stopped_epoch", "stopped_by"):
            batch_op.drop_column(name)
