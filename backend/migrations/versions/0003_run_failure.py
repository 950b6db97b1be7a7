"""run failure: why a failed run failed, as a field instead of a prefix of its error

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failure", sa.String(length=16), nullable=True))
    # Runs failed before this revision: the watchdog's were the ones whose error said so.
    op.execute(
        "UPDATE run SET failure = CASE WHEN error LIKE 'worker lost%' THEN 'worker_lost' "
        "ELSE 'error' END WHERE status = 'failed'"
    )


def downgrade() -> None:
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.drop_column("failure")
