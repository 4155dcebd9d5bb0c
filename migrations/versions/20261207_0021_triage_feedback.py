"""Triage feedback: a person's word that triage judged a message wrongly, and its review

Revision ID: 0021_triage_feedback
Revises: 0020_screening
Create Date: 2026-12-07 19:39:13.979758
"""
from alembic import op
import sqlalchemy as sa
import crisisline.database


revision = '0021_triage_feedback'
down_revision = '0020_screening'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('triage_feedback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('given_by_id', sa.Integer(), nullable=False),
    sa.Column('triage_level', sa.Enum('none', 'low', 'moderate', 'high', 'imminent', name='risk_level', native_enum=False, length=40), nullable=False),
    sa.Column('judged_level', sa.Enum('none', 'low', 'moderate', 'high', 'imminent', name='risk_level', native_enum=False, length=40), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'accepted', 'rejected', name='feedback_status', native_enum=False, length=40), nullable=False),
    sa.Column('reviewed_by_id', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', crisisline.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('example_text', sa.Text(), nullable=True),
    sa.Column('created_at', crisisline.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['centre_id'], ['organisations.id'], name=op.f('fk_triage_feedback_centre_id_organisations')),
    sa.ForeignKeyConstraint(['given_by_id'], ['users.id'], name=op.f('fk_triage_feedback_given_by_id_users')),
    sa.ForeignKeyConstraint(['message_id'], ['contact_messages.id'], name=op.f('fk_triage_feedback_message_id_contact_messages')),
    sa.ForeignKeyConstraint(['reviewed_by_id'], ['users.id'], name=op.f('fk_triage_feedback_reviewed_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_triage_feedback')),
    sa.UniqueConstraint('message_id', 'given_by_id', name=op.f('uq_triage_feedback_message_id'))
    )
    with op.batch_alter_table('triage_feedback', schema=None) as batch_op:
        batch_op.create_index('ix_triage_feedback_queue', ['centre_id', 'status', 'created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('triage_feedback', schema=None) as batch_op:
        batch_op.drop_index('ix_triage_feedback_queue')

    op.drop_table('triage_feedback')
