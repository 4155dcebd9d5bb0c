"""The district as a centre sets it up: several numbers per centre, school kinds and
designated hospitals, hospital green channels, dormitory buildings, reporters' units and
identities, one-time sign-in links and two-factor secrets, students' gender and special
groups, a referral's escort

A centre's ``hotline_number`` moves into ``hotline_numbers`` (its first number).

Revision ID: 0016_district
Revises: 0015_audit_key
Create Date: 2026-12-07 12:38:21
"""
import sqlalchemy as sa
from alembic import op

import crisisline.database


revision = '0016_district'
down_revision = '0015_audit_key'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('designated_hospitals',
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('hospital_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['hospital_id'], ['organisations.id'], name=op.f('fk_designated_hospitals_hospital_id_organisations')),
    sa.ForeignKeyConstraint(['school_id'], ['organisations.id'], name=op.f('fk_designated_hospitals_school_id_organisations')),
    sa.PrimaryKeyConstraint('school_id', 'hospital_id', name=op.f('pk_designated_hospitals'))
    )
    op.create_table('hotline_numbers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['centre_id'], ['organisations.id'], name=op.f('fk_hotline_numbers_centre_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hotline_numbers')),
    sa.UniqueConstraint('number', name=op.f('uq_hotline_numbers_number'))
    )
    with op.batch_alter_table('hotline_numbers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hotline_numbers_centre_id'), ['centre_id'], unique=False)

    op.create_table('sign_in_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', crisisline.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', crisisline.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', crisisline.database.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_sign_in_links_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_links')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_sign_in_links_token_hash'))
    )
    with op.batch_alter_table('sign_in_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sign_in_links_user_id'), ['user_id'], unique=False)

    op.create_table('student_groups',
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('group', sa.Enum('left_behind', 'migrant', 'orphaned', 'disabled', 'low_income', name='special_group', native_enum=False, length=40), nullable=False),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], name=op.f('fk_student_groups_student_id_students')),
    sa.PrimaryKeyConstraint('student_id', 'group', name=op.f('pk_student_groups'))
    )
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unit_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_memberships_unit_id'), ['unit_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_memberships_unit_id_school_units'), 'school_units', ['unit_id'], ['id'])

    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('backup_line', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('school_kind', sa.Enum('primary', 'junior_high', 'senior_high', 'vocational', 'university', name='school_kind', native_enum=False, length=40), nullable=True))
        batch_op.add_column(sa.Column('green_channel_phone', sa.String(length=32), nullable=True))
    op.execute("INSERT INTO hotline_numbers (centre_id, number) SELECT id, hotline_number "
               "FROM organisations WHERE hotline_number IS NOT NULL ORDER BY id")
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_organisations_hotline_number'), type_='unique')
        batch_op.drop_column('hotline_number')

    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escort_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_referrals_escort_id_users'), 'users', ['escort_id'], ['id'])

    with op.batch_alter_table('students', schema=None) as batch_op:
        batch_op.add_column(sa.Column('gender', sa.Enum('male', 'female', name='gender', native_enum=False, length=40), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_students_school_id'), ['school_id', 'student_number'])

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('languages', sa.String(length=40), nullable=False,
                                      server_default='zh'))
        batch_op.add_column(sa.Column('reporter_identity', sa.Enum('head_teacher', 'counselor_teacher', 'class_committee', 'dormitory_informant', 'department_head', 'psychology_centre', name='reporter_identity', native_enum=False, length=40), nullable=True))
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('totp_secret', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('totp_enabled_at', crisisline.database.UTCDateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('totp_enabled_at')
        batch_op.drop_column('totp_secret')
        batch_op.drop_column('must_change_password')
        batch_op.drop_column('reporter_identity')
        batch_op.drop_column('languages')

    with op.batch_alter_table('students', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_students_school_id'), type_='unique')
        batch_op.drop_column('gender')

    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_referrals_escort_id_users'), type_='foreignkey')
        batch_op.drop_column('escort_id')

    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hotline_number', sa.VARCHAR(length=32), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_organisations_hotline_number'), ['hotline_number'])
    op.execute("UPDATE organisations SET hotline_number = (SELECT number FROM hotline_numbers "
               "WHERE centre_id = organisations.id ORDER BY id LIMIT 1)")
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_column('green_channel_phone')
        batch_op.drop_column('school_kind')
        batch_op.drop_column('backup_line')

    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_memberships_unit_id_school_units'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_memberships_unit_id'))
        batch_op.drop_column('unit_id')

    op.drop_table('student_groups')
    with op.batch_alter_table('sign_in_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sign_in_links_user_id'))

    op.drop_table('sign_in_links')
    with op.batch_alter_table('hotline_numbers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hotline_numbers_centre_id'))

    op.drop_table('hotline_numbers')
    op.drop_table('designated_hospitals')
