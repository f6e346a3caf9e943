"""presence_users: last_seen_at and the status last announced, per user.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "presence_users",
        sa.Column("user_id", UUID(as_uuid=False), primary_key=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint(
            "status IN ('online', 'away', 'offline')", name="presence_users_status"
        ),
    )
    # The announced set is read at every start and leader change.
    op.create_index(
        "presence_users_announced",
        "presence_users",
        ["user_id"],
        postgresql_where=sa.text("status <> 'offline'"),
    )


def downgrade() -> None:
    op.drop_table("presence_users")
