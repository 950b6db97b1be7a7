"""users: named users, their API tokens (hashes only), dashboard sessions; who made a run

Revision ID: 0006
Revises: 0003
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

NAME = sqlmodel.sql.sqltypes.AutoString(length=32)
HASH = sqlmodel.sql.sqltypes.AutoString(length=64)


def upgrade() -> None:
    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("admin", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", HASH, nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_api_token_user_id", "api_token", ["user_id"])
    op.create_table(
        "user_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("id_hash", HASH, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("source_hash", HASH, nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["token_id"], ["api_token.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("id_hash"),
    )
    op.create_index("ix_user_session_user_id", "user_session", ["user_id"])
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by", NAME, nullable=True))
        batch_op.add_column(sa.Column("cancelled_by", NAME, nullable=True))
        batch_op.create_index("ix_run_created_by", ["created_by"])
    with op.batch_alter_table("group", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by", NAME, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("group", schema=None) as batch_op:
        batch_op.drop_column("created_by")
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.drop_index("ix_run_created_by")
        batch_op.drop_column("cancelled_by")
        batch_op.drop_column("created_by")
    op.drop_table("user_session")
    op.drop_table("api_token")
    op.drop_table("user_account")
