"""Attachments (api-v1.1 E): the files message-service knows and which entries carry them.

- `files`: the projection of `file.uploaded.v1` (one row per file, written once: files never
  change). A send may attach only files known here (else it is refused `unavailable`, retriable).
- `message_attachments`: the files of a `text` entry in their order (`position` 0..9). A delete
  removes its entry's rows in the delete's transaction, so access through it ends at once;
  `message_attachments_file` answers `file.access.query.v1` (readable / attached) by file.

Two new tables: nothing existing changes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("uploader_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("content_type", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("width", sa.Integer, nullable=True),
        sa.Column("height", sa.Integer, nullable=True),
        sa.Column("has_thumbnail", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "message_attachments",
        sa.Column(
            "message_id",
            pg.UUID(as_uuid=True),
            sa.ForeignKey("messages.id"),
            primary_key=True,
        ),
        sa.Column("position", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("file_id", pg.UUID(as_uuid=True), sa.ForeignKey("files.id"), nullable=False),
    )
    op.create_index("message_attachments_file", "message_attachments", ["file_id"])


def downgrade() -> None:
    op.drop_index("message_attachments_file", table_name="message_attachments")
    op.drop_table("message_attachments")
    op.drop_table("files")
