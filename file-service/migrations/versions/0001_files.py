"""files, the users projection (current avatars) and the outbox.

Revision ID: 0001
Revises:
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from chat_runtime.messaging.outbox import outbox_table
from sqlalchemy.dialects.postgresql import UUID

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("uploader_id", UUID(as_uuid=True), nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("content_type", sa.Text, nullable=False),
        sa.Column("sha256", sa.CHAR(64), nullable=False),
        sa.Column("width", sa.Integer, nullable=True),
        sa.Column("height", sa.Integer, nullable=True),
        sa.Column("has_thumbnail", sa.Boolean, nullable=False),
        sa.Column("thumbnail_size", sa.BigInteger, nullable=True),
        sa.Column("thumbnail_content_type", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kept", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.CheckConstraint("purpose IN ('attachment', 'avatar')", name="files_purpose"),
    )
    op.create_index("files_uploader_purpose", "files", ["uploader_id", "purpose"])
    # The orphan sweep walks files by age.
    op.create_index("files_created_at", "files", ["created_at"])
    op.create_table(
        "users",
        sa.Column("user_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("avatar_file_id", UUID(as_uuid=True), nullable=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    # The outbox's shape belongs to chat_runtime (its relay reads it); create it from there.
    outbox_table(sa.MetaData()).create(op.get_bind())


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("users")
    op.drop_table("files")
