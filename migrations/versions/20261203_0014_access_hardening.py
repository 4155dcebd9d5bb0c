"""Access hardening: break-the-glass "allow again", and every owner a case ever had

Revision ID: 0014_access_hardening
Revises: 0013_sessions_tokens
Create Date: 2026-12-03 10:00:00

``cases.past_owner_ids`` is filled for existing cases from their current owner and every
owner the audit trail records for them (each change of ``owner_id`` is in a ``case.*``
entry's changes, whichever way it was made), so nobody who owned a case before this
release can close it either.
"""
import json

import sqlalchemy as sa
from alembic import op

import crisisline.database

revision = '0014_access_hardening'
down_revision = '0013_sessions_tokens'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('break_glass_grants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('allowed_again_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('allowed_again_at',
                                      crisisline.database.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_break_glass_grants_allowed_again_by_id_users'), 'users',
            ['allowed_again_by_id'], ['id'])
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('past_owner_ids', sa.JSON(), nullable=True))
    _fill_past_owners()
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.alter_column('past_owner_ids', existing_type=sa.JSON(), nullable=False)


def _fill_past_owners() -> None:
    connection = op.get_bind()
    owners: dict[int, set[int]] = {}
    for case_id, owner_id in connection.execute(sa.text("SELECT id, owner_id FROM cases")):
        owners[case_id] = {owner_id} - {None}
    entries = connection.execute(sa.text(
        "SELECT object_id, changes FROM audit_entries WHERE object_type = 'case'"))
    for object_id, changes in entries:
        if isinstance(changes, str):  # SQLite hands JSON back as text
            changes = json.loads(changes)
        change = (changes or {}).get('owner_id')
        if not isinstance(change, dict) or not str(object_id or '').isdigit():
            continue
        known = owners.get(int(object_id))
        if known is not None:
            known.update(value for value in (change.get('old'), change.get('new'))
                         if isinstance(value, int))
    update = sa.text("UPDATE cases SET past_owner_ids = :ids WHERE id = :id").bindparams(
        sa.bindparam('ids', type_=sa.JSON()))
    for case_id, ids in owners.items():
        connection.execute(update, {'ids': sorted(ids), 'id': case_id})


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('past_owner_ids')
    with op.batch_alter_table('break_glass_grants', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_break_glass_grants_allowed_again_by_id_users'), type_='foreignkey')
        batch_op.drop_column('allowed_again_at')
        batch_op.drop_column('allowed_again_by_id')
