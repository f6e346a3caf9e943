"""initial schema: users, sessions, refresh tokens, throttle counters, outbox

Revision ID: 0001
Revises: 
Create Date: 2026-11-26 16:53:14.548047
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outbox',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('seq', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('exchange', sa.Text(), nullable=False),
    sa.Column('routing_key', sa.Text(), nullable=False),
    sa.Column('type_name', sa.Text(), nullable=False),
    sa.Column('body', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('headers', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('correlation_id', sa.Text(), nullable=True),
    sa.Column('message_id', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_id'),
    sa.UniqueConstraint('seq')
    )
    op.create_index('ix_outbox_unpublished', 'outbox', ['seq'], unique=False, postgresql_where=sa.text('published_at IS NULL'))
    op.create_table('throttle_counters',
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('blocked_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('scope', 'key')
    )
    op.create_table('users',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('username', sa.Text(), nullable=False),
    sa.Column('display_name', sa.Text(), nullable=False),
    sa.Column('password_hash', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('password_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('username = lower(username)', name='users_username_lower'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('users_display_name_lower_idx', 'users', [sa.literal_column('lower(display_name) text_pattern_ops')], unique=False)
    op.create_index('users_username_key', 'users', ['username'], unique=True, postgresql_ops={'username': 'text_pattern_ops'})
    op.create_table('sessions',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoke_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('sessions_revoked_at_idx', 'sessions', ['revoked_at'], unique=False, postgresql_where=sa.text('revoked_at IS NOT NULL'))
    op.create_index('sessions_user_id_idx', 'sessions', ['user_id'], unique=False)
    op.create_table('refresh_tokens',
    sa.Column('token_hash', sa.LargeBinary(), nullable=False),
    sa.Column('session_id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('rotated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('successor_hash', sa.LargeBinary(), nullable=True),
    sa.Column('successor_box', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash')
    )
    op.create_index('refresh_tokens_session_id_idx', 'refresh_tokens', ['session_id'], unique=False)


def downgrade() -> None:
    op.drop_index('refresh_tokens_session_id_idx', table_name='refresh_tokens')
    op.drop_table('refresh_tokens')
    op.drop_index('sessions_user_id_idx', table_name='sessions')
    op.drop_index('sessions_revoked_at_idx', table_name='sessions', postgresql_where=sa.text('revoked_at IS NOT NULL'))
    op.drop_table('sessions')
    op.drop_index('users_username_key', table_name='users', postgresql_ops={'username': 'text_pattern_ops'})
    op.drop_index('users_display_name_lower_idx', table_name='users')
    op.drop_table('users')
    op.drop_table('throttle_counters')
    op.drop_index('ix_outbox_unpublished', table_name='outbox', postgresql_where=sa.text('published_at IS NULL'))
    op.drop_table('outbox')
