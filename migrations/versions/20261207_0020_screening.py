"""Screening campaigns, warnings, the watch list and review meetings

Revision ID: 0020_screening
Revises: 0019_key_periods
Create Date: 2026-12-07 18:38:14.954560
"""
from alembic import op
import sqlalchemy as sa
import crisisline.database


revision = '0020_screening'
down_revision = '0019_key_periods'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('review_meetings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('held_on', sa.Date(), nullable=False),
    sa.Column('held_by_id', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', crisisline.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['held_by_id'], ['users.id'], name=op.f('fk_review_meetings_held_by_id_users')),
    sa.ForeignKeyConstraint(['school_id'], ['organisations.id'], name=op.f('fk_review_meetings_school_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_meetings'))
    )
    with op.batch_alter_table('review_meetings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_meetings_school_id'), ['school_id'], unique=False)

    op.create_table('screening_campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('instrument', sa.Enum('PHQ-9', 'GAD-7', 'custom', name='instrument', native_enum=False, length=40), nullable=False),
    sa.Column('scale_name', sa.String(length=120), nullable=True),
    sa.Column('cut_off', sa.Integer(), nullable=True),
    sa.Column('max_score', sa.Integer(), nullable=True),
    sa.Column('started_on', sa.Date(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', crisisline.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_screening_campaigns_created_by_id_users')),
    sa.ForeignKeyConstraint(['school_id'], ['organisations.id'], name=op.f('fk_screening_campaigns_school_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_screening_campaigns'))
    )
    with op.batch_alter_table('screening_campaigns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_screening_campaigns_school_id'), ['school_id'], unique=False)

    op.create_table('screening_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('self_harm_item', sa.Integer(), nullable=True),
    sa.Column('items', sa.JSON(), nullable=True),
    sa.Column('created_at', crisisline.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['screening_campaigns.id'], name=op.f('fk_screening_results_campaign_id_screening_campaigns')),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], name=op.f('fk_screening_results_student_id_students')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_screening_results')),
    sa.UniqueConstraint('campaign_id', 'student_id', name=op.f('uq_screening_results_campaign_id'))
    )
    with op.batch_alter_table('screening_results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_screening_results_student_id'), ['student_id'], unique=False)

    op.create_table('screening_warnings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('result_id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('due_at', crisisline.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=40), nullable=False),
    sa.Column('interviewed_by_id', sa.Integer(), nullable=True),
    sa.Column('interviewed_at', crisisline.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('interview_note', sa.Text(), nullable=True),
    sa.Column('assessed_by_id', sa.Integer(), nullable=True),
    sa.Column('assessed_at', crisisline.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('risk_level', sa.Enum('none', 'low', 'moderate', 'high', 'imminent', name='risk_level', native_enum=False, length=40), nullable=True),
    sa.Column('plan', sa.Text(), nullable=True),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('overdue_alerted_at', crisisline.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', crisisline.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assessed_by_id'], ['users.id'], name=op.f('fk_screening_warnings_assessed_by_id_users')),
    sa.ForeignKeyConstraint(['campaign_id'], ['screening_campaigns.id'], name=op.f('fk_screening_warnings_campaign_id_screening_campaigns')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_screening_warnings_case_id_cases')),
    sa.ForeignKeyConstraint(['interviewed_by_id'], ['users.id'], name=op.f('fk_screening_warnings_interviewed_by_id_users')),
    sa.ForeignKeyConstraint(['result_id'], ['screening_results.id'], name=op.f('fk_screening_warnings_result_id_screening_results')),
    sa.ForeignKeyConstraint(['school_id'], ['organisations.id'], name=op.f('fk_screening_warnings_school_id_organisations')),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], name=op.f('fk_screening_warnings_student_id_students')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_screening_warnings')),
    sa.UniqueConstraint('result_id', name=op.f('uq_screening_warnings_result_id'))
    )
    with op.batch_alter_table('screening_warnings', schema=None) as batch_op:
        batch_op.create_index('ix_screening_warnings_campaign', ['campaign_id', 'due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_screening_warnings_student_id'), ['student_id'], unique=False)

    op.create_table('watch_list_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('warning_id', sa.Integer(), nullable=True),
    sa.Column('risk_level', sa.Enum('none', 'low', 'moderate', 'high', 'imminent', name='risk_level', native_enum=False, length=40), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('plan', sa.Text(), nullable=False),
    sa.Column('next_review_on', sa.Date(), nullable=False),
    sa.Column('added_by_id', sa.Integer(), nullable=False),
    sa.Column('on_list_key', sa.String(length=40), nullable=True),
    sa.Column('removed_at', crisisline.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('removed_by_id', sa.Integer(), nullable=True),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('owner_alerted_for', sa.Date(), nullable=True),
    sa.Column('centre_alerted_for', sa.Date(), nullable=True),
    sa.Column('created_at', crisisline.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['added_by_id'], ['users.id'], name=op.f('fk_watch_list_entries_added_by_id_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_watch_list_entries_case_id_cases')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_watch_list_entries_owner_id_users')),
    sa.ForeignKeyConstraint(['removed_by_id'], ['users.id'], name=op.f('fk_watch_list_entries_removed_by_id_users')),
    sa.ForeignKeyConstraint(['school_id'], ['organisations.id'], name=op.f('fk_watch_list_entries_school_id_organisations')),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], name=op.f('fk_watch_list_entries_student_id_students')),
    sa.ForeignKeyConstraint(['warning_id'], ['screening_warnings.id'], name=op.f('fk_watch_list_entries_warning_id_screening_warnings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_watch_list_entries')),
    sa.UniqueConstraint('on_list_key', name=op.f('uq_watch_list_entries_on_list_key'))
    )
    with op.batch_alter_table('watch_list_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_watch_list_entries_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_watch_list_entries_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_watch_list_entries_student_id'), ['student_id'], unique=False)

    op.create_table('watch_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=True),
    sa.Column('reviewed_by_id', sa.Integer(), nullable=False),
    sa.Column('decision', sa.Enum('keep', 'lower', 'raise', 'remove', name='watch_decision', native_enum=False, length=40), nullable=False),
    sa.Column('risk_level', sa.Enum('none', 'low', 'moderate', 'high', 'imminent', name='risk_level', native_enum=False, length=40), nullable=False),
    sa.Column('next_review_on', sa.Date(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', crisisline.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['watch_list_entries.id'], name=op.f('fk_watch_reviews_entry_id_watch_list_entries')),
    sa.ForeignKeyConstraint(['meeting_id'], ['review_meetings.id'], name=op.f('fk_watch_reviews_meeting_id_review_meetings')),
    sa.ForeignKeyConstraint(['reviewed_by_id'], ['users.id'], name=op.f('fk_watch_reviews_reviewed_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_watch_reviews'))
    )
    with op.batch_alter_table('watch_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_watch_reviews_entry_id'), ['entry_id'], unique=False)

    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('screening_warning_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('watch_entry_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_alerts_screening_warning_id_screening_warnings'), 'screening_warnings', ['screening_warning_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_alerts_watch_entry_id_watch_list_entries'), 'watch_list_entries', ['watch_entry_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_alerts_watch_entry_id_watch_list_entries'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_alerts_screening_warning_id_screening_warnings'), type_='foreignkey')
        batch_op.drop_column('watch_entry_id')
        batch_op.drop_column('screening_warning_id')

    with op.batch_alter_table('watch_reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_watch_reviews_entry_id'))

    op.drop_table('watch_reviews')
    with op.batch_alter_table('watch_list_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_watch_list_entries_student_id'))
        batch_op.drop_index(batch_op.f('ix_watch_list_entries_school_id'))
        batch_op.drop_index(batch_op.f('ix_watch_list_entries_owner_id'))

    op.drop_table('watch_list_entries')
    with op.batch_alter_table('screening_warnings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_screening_warnings_student_id'))
        batch_op.drop_index('ix_screening_warnings_campaign')

    op.drop_table('screening_warnings')
    with op.batch_alter_table('screening_results', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_screening_results_student_id'))

    op.drop_table('screening_results')
    with op.batch_alter_table('screening_campaigns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_screening_campaigns_school_id'))

    op.drop_table('screening_campaigns')
    with op.batch_alter_table('review_meetings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_meetings_school_id'))

    op.drop_table('review_meetings')
