"""Fair routing: when an offer ended, offers missed in a row, and each message's triage

Revision ID: 0012_routing
Revises: 0011_case_student_state
Create Date: 2026-12-03 09:00:00
"""
from alembic import op
import sqlalchemy as sa
import crisisline.database


revision = '0012_routing'
down_revision = '0011_case_student_state'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ended_at', crisisline.database.UTCDateTime(timezone=True),
                                      nullable=True))
    with op.batch_alter_table('presence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('missed_offers', sa.Integer(), server_default='0',
                                      nullable=False))
    with op.batch_alter_table('contact_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('triage', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('contact_messages', schema=None) as batch_op:
        batch_op.drop_column('triage')
    with op.batch_alter_table('presence', schema=None) as batch_op:
        batch_op.drop_column('missed_offers')
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_column('ended_at')
