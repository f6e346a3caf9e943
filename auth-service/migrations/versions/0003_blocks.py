"""blocking (api-v1.1 C): one row per (blocker, blocked) pair

The row stays after an unblock (`blocked` false) so the pair's `version` keeps growing: every
change is announced as `auth.block.changed.v1` with it, and consumers keep the highest.
`changed_at` is the time of the last change (`GET /v1/users/me/blocks` lists newest first).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blocks",
        sa.Column("blocker_id", sa.UUID(), nullable=False),
        sa.Column("blocked_id", sa.UUID(), nullable=False),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["blocker_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["blocked_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("blocker_id", "blocked_id"),
        sa.CheckConstraint("blocker_id <> blocked_id", name="blocks_not_self"),
    )


def downgrade() -> None:
    op.drop_table("blocks")
