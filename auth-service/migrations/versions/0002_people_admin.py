"""people and administration (api-v1.1 C): roles, deactivation, deletion, profile, per-user
version; session activity; invitations, password resets, audit log

The earliest existing account becomes the owner. Existing users get `version = 0`: on start the
service announces every user still at version 0 as `auth.user.updated.v1` version 1 (one outbox
row each, in one transaction that moves them to 1; `users_backfill.py`), so consumers learn the
new fields of accounts made before this release.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("role", sa.Text(), server_default="member", nullable=False)
    )
    op.add_column(
        "users", sa.Column("deactivated", sa.Boolean(), server_default="false", nullable=False)
    )
    op.add_column(
        "users", sa.Column("deleted", sa.Boolean(), server_default="false", nullable=False)
    )
    op.add_column("users", sa.Column("avatar_file_id", sa.UUID(), nullable=True))
    op.add_column("users", sa.Column("timezone", sa.Text(), nullable=True))
    op.add_column(
        "users", sa.Column("version", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.create_check_constraint(
        "users_role_known", "users", "role IN ('owner', 'admin', 'member')"
    )
    # Exactly one owner at a time (at most one by this index; the first account and the
    # migration make one exist).
    op.create_index(
        "users_one_owner",
        "users",
        ["role"],
        unique=True,
        postgresql_where=sa.text("role = 'owner'"),
    )
    op.execute(
        "UPDATE users SET role = 'owner' WHERE id = "
        "(SELECT id FROM users ORDER BY created_at, id LIMIT 1)"
    )

    op.add_column("sessions", sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("sessions", sa.Column("user_agent", sa.Text(), nullable=True))
    op.add_column("sessions", sa.Column("ip", sa.Text(), nullable=True))
    op.execute("UPDATE sessions SET last_used_at = created_at")

    op.create_table(
        "invites",
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_by", sa.UUID(), nullable=True),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_table(
        "password_resets",
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("password_resets_user_id_idx", "password_resets", ["user_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("actor_id", sa.UUID(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("target_id", sa.UUID(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ip", sa.Text(), nullable=True),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_index("password_resets_user_id_idx", table_name="password_resets")
    op.drop_table("password_resets")
    op.drop_table("invites")
    op.drop_column("sessions", "ip")
    op.drop_column("sessions", "user_agent")
    op.drop_column("sessions", "last_used_at")
    op.drop_index("users_one_owner", table_name="users")
    op.drop_constraint("users_role_known", "users", type_="check")
    for column in ("version", "timezone", "avatar_file_id", "deleted", "deactivated", "role"):
        op.drop_column("users", column)
