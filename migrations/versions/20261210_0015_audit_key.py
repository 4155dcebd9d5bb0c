"""Audit key: the chain, its head and its checkpoints keyed with CRISISLINE_AUDIT_KEY

Until now each entry's hash was a bare SHA-256, which anyone who can write the database can
recompute after rewriting entries. From here on it is an HMAC-SHA256 with a key kept outside
the database. The existing chain is verified as it stands (bare SHA-256, the head, every
intact checkpoint) and only then chained again with the key; a chain that does not verify
is not re-keyed (that would make it verify) and the upgrade stops, naming the first bad
entry. What the re-keyed entries prove is therefore what the old chain proved at the moment
of the upgrade; the ``audit.rekey`` entry appended here marks that moment in the trail.

Revision ID: 0015_audit_key
Revises: 0014_access_hardening
Create Date: 2026-12-10 09:00:00
"""
import hashlib
import json

import sqlalchemy as sa
from alembic import context, op

revision = '0015_audit_key'
down_revision = '0014_access_hardening'
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64


def sha256_entry_hash(fields: dict) -> str:
    """The hash entries had before this revision (a frozen copy: do not change)."""
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _audit_key() -> str:
    key = context.config.attributes.get("audit_key")  # set by crisisline init / env.py
    if not key:
        raise RuntimeError("this migration needs CRISISLINE_AUDIT_KEY: run it with "
                           "`crisisline init`")
    return key


def upgrade() -> None:
    with op.batch_alter_table('audit_chain_head', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_check_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('key_id', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('mac', sa.String(length=64), nullable=True))
    with op.batch_alter_table('audit_checks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('previous_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('mac', sa.String(length=64), nullable=True))
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index('ix_audit_entries_object', ['object_type', 'object_id'],
                              unique=False)
        batch_op.create_index('ix_audit_entries_occurred_at', ['occurred_at'], unique=False)

    from crisisline.audit.services import ChainBroken, _Row, head_mac, key_id, rekey_chain
    connection, key = op.get_bind(), _audit_key()
    empty = connection.execute(sa.text(
        "SELECT last_seq = 0 AND NOT EXISTS (SELECT 1 FROM audit_checks) "
        "FROM audit_chain_head WHERE id = 1")).scalar()
    if empty:  # a new database: nothing to vouch for, the head only takes the key
        head = _Row({"last_seq": 0, "last_hash": GENESIS_HASH, "last_check_id": None,
                     "key_id": key_id(key)})
        connection.execute(sa.text("UPDATE audit_chain_head SET key_id = :key_id, mac = :mac "
                                   "WHERE id = 1"), {"key_id": head.key_id,
                                                     "mac": head_mac(head, key)})
    else:
        try:
            rekey_chain(connection, sha256_entry_hash, key, actor="system:migration",
                        reason="migration")
        except ChainBroken as broken:
            raise ChainBroken(broken.seq,
                f"the audit chain is broken ({broken.problem}), so it was not keyed with "
                "CRISISLINE_AUDIT_KEY and the upgrade stopped; restore the database from a "
                "backup whose chain verifies (crisisline audit verify on the previous "
                "release), then upgrade") from None

    with op.batch_alter_table('audit_chain_head', schema=None) as batch_op:
        batch_op.alter_column('key_id', existing_type=sa.String(length=16), nullable=False)
        batch_op.alter_column('mac', existing_type=sa.String(length=64), nullable=False)
    with op.batch_alter_table('audit_checks', schema=None) as batch_op:
        batch_op.alter_column('mac', existing_type=sa.String(length=64), nullable=False)


def downgrade() -> None:
    """Back to bare SHA-256 (verified with the key first), as the previous release checks."""
    from crisisline.audit.models import CHAINED, AuditEntry, chained_fields
    from crisisline.audit.services import entry_hash
    connection, key, table = op.get_bind(), _audit_key(), AuditEntry.__table__
    rows = connection.execute(sa.select(*(table.c[name] for name in (*CHAINED, "hash")))
                              .order_by(table.c.seq)).mappings().all()
    previous = old_previous = GENESIS_HASH
    for row in rows:
        if row["prev_hash"] != old_previous or \
                entry_hash(chained_fields(row), key) != row["hash"]:
            raise RuntimeError(f"audit entry {row['seq']} does not verify with "
                               "CRISISLINE_AUDIT_KEY; not downgrading the chain")
        new = sha256_entry_hash(chained_fields({**row, "prev_hash": previous}))
        connection.execute(sa.text("UPDATE audit_entries SET prev_hash = :p, hash = :h "
                                   "WHERE seq = :s"), {"p": previous, "h": new, "s": row["seq"]})
        old_previous, previous = row["hash"], new
    connection.execute(sa.text("UPDATE audit_chain_head SET last_hash = :h WHERE id = 1"),
                       {"h": previous})
    connection.execute(sa.text("DELETE FROM audit_checks"))  # keyed: worthless without it
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entries_occurred_at')
        batch_op.drop_index('ix_audit_entries_object')
    with op.batch_alter_table('audit_checks', schema=None) as batch_op:
        batch_op.drop_column('mac')
        batch_op.drop_column('previous_id')
    with op.batch_alter_table('audit_chain_head', schema=None) as batch_op:
        batch_op.drop_column('mac')
        batch_op.drop_column('key_id')
        batch_op.drop_column('last_check_id')
