"""Key periods (重要时段): each school's calendar of the periods it watches closely, and
when each one's reviews were created

Revision ID: 0019_key_periods
Revises: 0018_routine_reports
Create Date: 2026-12-07 15:35:30.391263
"""
import sqlalchemy as sa
from alembic import op

import crisisline.database


revision = '0019_key_periods'
down_revision = '0018_routine_reports'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('key_periods',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('holidays', 'exams', 'term_start', 'freshmen', 'major_event', 'season_change', 'graduation', name='key_period_kind', native_enum=False, length=40), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('reviews_created_at', crisisline.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', crisisline.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['school_id'], ['organisations.id'], name=op.f('fk_key_periods_school_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_key_periods'))
    )
    with op.batch_alter_table('key_periods', schema=None) as batch_op:
        batch_op.create_index('ix_key_periods_school_dates', ['school_id', 'starts_on'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('key_periods', schema=None) as batch_op:
        batch_op.drop_index('ix_key_periods_school_dates')

    op.drop_table('key_periods')
