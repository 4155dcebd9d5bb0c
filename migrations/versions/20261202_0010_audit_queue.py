"""Audit queue: entries committed with their change, chained right after the commit

Revision ID: 0010_audit_queue
Revises: 0009_audit_checks
Create Date: 2026-12-02 03:40:00
"""
from alembic import op
import sqlalchemy as sa
import crisisline.database


revision = '0010_audit_queue'
down_revision = '0009_audit_checks'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_queue',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('occurred_at', crisisline.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_name', sa.String(length=120), nullable=False),
    sa.Column('actor_role', sa.String(length=40), nullable=True),
    sa.Column('action', sa.String(length=80), nullable=False),
    sa.Column('object_type', sa.String(length=40), nullable=True),
    sa.Column('object_id', sa.String(length=64), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('source_address', sa.String(length=64), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_queue'))
    )


def downgrade() -> None:
    op.drop_table('audit_queue')
