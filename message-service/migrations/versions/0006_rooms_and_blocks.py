"""Room management and blocking (api-v1.1 C).

- `rooms`: a channel's `topic` and whether it is `archived` (read-only).
- `memberships.role`: `admin` (room admins: the creator, and members a room admin promoted) or
  `member`; existing channels make their creator an admin. Direct rooms have no room admins.
- `blocks`: the projection of `auth.block.changed.v1`, one row per (blocker, blocked) pair kept
  at the highest `version` seen (`blocked` false after an unblock, so an older event cannot
  bring a block back).

Every added column is nullable or has a constant default: no table rewrite.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("rooms", sa.Column("topic", sa.Text, nullable=True))
    op.add_column(
        "rooms", sa.Column("archived", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.add_column(
        "memberships", sa.Column("role", sa.Text, nullable=False, server_default="member")
    )
    op.create_check_constraint("memberships_role", "memberships", "role IN ('admin', 'member')")
    op.execute(
        """
        UPDATE memberships m SET role = 'admin'
        FROM rooms r
        WHERE r.id = m.room_id AND r.kind = 'channel' AND m.user_id = r.created_by
        """
    )
    op.create_table(
        "blocks",
        sa.Column("blocker_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("blocked_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("blocked", sa.Boolean, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("blocks")
    op.drop_constraint("memberships_role", "memberships", type_="check")
    op.drop_column("memberships", "role")
    op.drop_column("rooms", "archived")
    op.drop_column("rooms", "topic")
