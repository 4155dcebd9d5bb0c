"""Cases: one index on (student_id, state) for a school's cases in one state

Revision ID: 0011_case_student_state
Revises: 0010_audit_queue
Create Date: 2026-12-02 03:55:00
"""
from alembic import op


revision = '0011_case_student_state'
down_revision = '0010_audit_queue'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_student_state', ['student_id', 'state'], unique=False)
        batch_op.drop_index(batch_op.f('ix_cases_student_id'))


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cases_student_id'), ['student_id'], unique=False)
        batch_op.drop_index('ix_cases_student_state')
