"""Sessions on the server (user_sessions), API tokens that expire

A sign-in is a row of its own, so signing out ends it for every copy of the cookie; the
users' session generation it replaces is dropped (every browser signs in again once).
Existing API tokens expire 90 days after they were created.

Revision ID: 0013_sessions_tokens
Revises: 0012_routing
Create Date: 2026-12-10 09:00:00
"""
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

import crisisline.database

revision = '0013_sessions_tokens'
down_revision = '0012_routing'
branch_labels = None
depends_on = None

EXISTING_TOKEN_DAYS = 90


def upgrade() -> None:
    op.create_table('user_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('source_address', sa.String(length=64), nullable=True),
    sa.Column('created_at', crisisline.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', crisisline.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', crisisline.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=20), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                            name=op.f('fk_user_sessions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_sessions')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_user_sessions_key_hash'))
    )
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_sessions_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', crisisline.database.UTCDateTime(
            timezone=True), nullable=True))
    tokens = sa.table('api_tokens', sa.column('id', sa.Integer()),
                      sa.column('created_at', crisisline.database.UTCDateTime(timezone=True)),
                      sa.column('expires_at', crisisline.database.UTCDateTime(timezone=True)))
    connection = op.get_bind()
    for token_id, created_at in connection.execute(
            sa.select(tokens.c.id, tokens.c.created_at)).all():
        connection.execute(tokens.update().where(tokens.c.id == token_id).values(
            expires_at=created_at + timedelta(days=EXISTING_TOKEN_DAYS)))
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.alter_column('expires_at', existing_type=crisisline.database.UTCDateTime(
            timezone=True), nullable=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_generation')


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_generation', sa.Integer(), nullable=False,
                                      server_default='0'))
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_sessions_user_id'))
    op.drop_table('user_sessions')
