"""An attacker who can write the database but does not hold CRISISLINE_AUDIT_KEY.

Each test works only through SQL, as such an attacker would: it rewrites, deletes, reorders
or truncates entries, recomputes the chain with plain SHA-256 (the algorithm is public;
the key is not), rewrites the head row and the checkpoints to match, and then checks that
``verify`` fails and names what was done.
"""
from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import func, select, text

from crisisline import audit
from crisisline.audit.models import AuditEntry, chained_fields
from crisisline.audit.services import AuditKeyMismatch, record_check, verify_chain


@pytest.fixture
def chain(ctx):
    """Six committed entries and an intact checkpoint; returns the seq of our entries."""
    with ctx() as db:
        for n in range(6):
            audit.record("test.step", object_type="thing", object_id=n)
            db.commit()
        record_check(verify_chain())
        db.commit()
        return list(db.scalars(select(AuditEntry.seq).where(AuditEntry.action == "test.step")
                               .order_by(AuditEntry.seq)))


def sql(ctx, statement: str, **params):
    with ctx() as db:
        result = db.execute(text(statement), params)
        rows = result.mappings().all() if result.returns_rows else None
        db.commit()
        return rows


def sha256(fields: dict) -> str:
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def rechain_with_sha256(ctx) -> None:
    """What the attacker does after any change: recompute every link and the head."""
    table = AuditEntry.__table__
    with ctx() as db:
        rows = db.execute(select(table).order_by(table.c.seq)).mappings().all()
        previous = "0" * 64
        for row in rows:
            new = sha256(chained_fields({**row, "prev_hash": previous}))
            db.execute(text("UPDATE audit_entries SET prev_hash = :p, hash = :h WHERE seq = :s"),
                       {"p": previous, "h": new, "s": row["seq"]})
            previous = new
        db.execute(text("UPDATE audit_chain_head SET last_seq = :seq, last_hash = :h, "
                        "mac = :mac WHERE id = 1"),
                   {"seq": len(rows), "h": previous,
                    "mac": sha256({"last_seq": len(rows), "last_hash": previous})})
        db.commit()


def verified(ctx):
    with ctx():
        return verify_chain()


def test_an_edited_entry_with_the_whole_chain_recomputed_is_detected(ctx, chain):
    sql(ctx, "UPDATE audit_entries SET object_id = '99' WHERE seq = :seq", seq=chain[2])
    rechain_with_sha256(ctx)
    report = verified(ctx)
    assert not report.ok and report.first_bad_seq == 1  # the very first link is not keyed
    assert "entry 1 was altered" in report.problem


def test_a_deleted_entry_with_later_ones_renumbered_and_rechained_is_detected(ctx, chain):
    sql(ctx, "DELETE FROM audit_entries WHERE seq = :seq", seq=chain[2])
    sql(ctx, "UPDATE audit_entries SET seq = seq - 1 WHERE seq > :seq", seq=chain[2])
    rechain_with_sha256(ctx)
    report = verified(ctx)
    assert not report.ok and "was altered" in report.problem


def test_reordered_entries_rechained_are_detected(ctx, chain):
    first, second = chain[1], chain[2]
    sql(ctx, "UPDATE audit_entries SET seq = -1 WHERE seq = :a", a=first)
    sql(ctx, "UPDATE audit_entries SET seq = :a WHERE seq = :b", a=first, b=second)
    sql(ctx, "UPDATE audit_entries SET seq = :b WHERE seq = -1", b=second)
    rechain_with_sha256(ctx)
    assert not verified(ctx).ok


def test_a_forged_entry_appended_with_the_head_moved_is_detected(ctx, chain):
    last = sql(ctx, "SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1")[0]
    sql(ctx, "INSERT INTO audit_entries (seq, occurred_at, actor_name, action, outcome, "
             "changes, prev_hash, hash) VALUES (:seq, '2026-12-01 00:00:00', 'nobody', "
             "'case.read', 'success', '{}', :prev, :hash)",
        seq=last["seq"] + 1, prev=last["hash"], hash="f" * 64)
    sql(ctx, "UPDATE audit_chain_head SET last_seq = :seq, last_hash = :h WHERE id = 1",
        seq=last["seq"] + 1, h="f" * 64)
    report = verified(ctx)
    assert not report.ok and report.first_bad_seq == last["seq"] + 1


def test_truncation_with_the_head_pointed_at_the_last_kept_entry_is_detected(ctx, chain):
    keep = sql(ctx, "SELECT seq, hash FROM audit_entries WHERE seq = :s", s=chain[3])[0]
    sql(ctx, "DELETE FROM audit_entries WHERE seq > :seq", seq=keep["seq"])
    sql(ctx, "UPDATE audit_chain_head SET last_seq = :seq, last_hash = :h, mac = :mac "
             "WHERE id = 1", seq=keep["seq"], h=keep["hash"],
        mac=sha256({"last_seq": keep["seq"], "last_hash": keep["hash"]}))
    report = verified(ctx)
    assert not report.ok and "head" in report.problem and "altered" in report.problem


def test_a_plain_truncation_is_detected(ctx, chain):
    sql(ctx, "DELETE FROM audit_entries WHERE seq >= :seq", seq=chain[4])
    report = verified(ctx)
    assert not report.ok and "removed from the end" in report.problem


def test_truncation_back_to_a_saved_copy_of_the_head_is_caught_by_the_later_checkpoint(
        ctx, chain):
    """The attacker saved the head row earlier (a genuine, keyed row) and puts it back."""
    saved = sql(ctx, "SELECT * FROM audit_chain_head WHERE id = 1")[0]
    with ctx() as db:
        for n in range(3):
            audit.record("test.later", object_type="thing", object_id=n)
            db.commit()
        record_check(verify_chain())
        db.commit()
    sql(ctx, "DELETE FROM audit_entries WHERE seq > :seq", seq=saved["last_seq"])
    sql(ctx, "UPDATE audit_chain_head SET last_seq = :last_seq, last_hash = :last_hash, "
             "last_check_id = :last_check_id, key_id = :key_id, mac = :mac WHERE id = 1",
        **{name: saved[name] for name in ("last_seq", "last_hash", "last_check_id",
                                          "key_id", "mac")})
    report = verified(ctx)
    assert not report.ok
    assert "replaced by an earlier copy" in report.problem


def test_a_forged_checkpoint_is_detected(ctx, chain):
    sql(ctx, "UPDATE audit_checks SET entries = entries - 2, last_hash = :h "
             "WHERE id = (SELECT MAX(id) FROM audit_checks)", h="0" * 64)
    report = verified(ctx)
    assert not report.ok and "was forged or altered" in report.problem


def test_a_deleted_newest_checkpoint_is_detected(ctx, chain):
    newest = sql(ctx, "SELECT MAX(id) AS id FROM audit_checks")[0]["id"]
    sql(ctx, "DELETE FROM audit_checks WHERE id = :id", id=newest)
    report = verified(ctx)
    assert not report.ok and f"checkpoint {newest} was deleted" in report.problem


def test_a_deleted_earlier_checkpoint_is_detected(ctx, chain):
    with ctx() as db:
        record_check(verify_chain())
        db.commit()
    first, second = [row["id"] for row in sql(ctx, "SELECT id FROM audit_checks ORDER BY id "
                                                   "DESC LIMIT 2")][::-1]
    sql(ctx, "DELETE FROM audit_checks WHERE id = :id", id=first)
    report = verified(ctx)
    assert not report.ok and "was deleted" in report.problem and str(second) in report.problem


def test_a_head_claiming_another_key_is_detected(ctx, chain):
    sql(ctx, "UPDATE audit_chain_head SET key_id = '0123456789abcdef' WHERE id = 1")
    report = verified(ctx)
    assert not report.ok and "another key" in report.problem


def test_with_another_key_verify_fails_and_nothing_is_appended(app, ctx, chain, monkeypatch):
    monkeypatch.setitem(app.config, "AUDIT_KEY", "another-key-" + "x" * 32)
    with ctx() as db:
        assert "another key" in verify_chain().problem
        before = db.scalar(select(func.max(AuditEntry.seq)))
        audit.record("test.wrong_key")
        if db.get_bind().dialect.name == "sqlite":
            with pytest.raises(AuditKeyMismatch):
                db.commit()  # nothing is saved that its entry could not be chained for
            db.rollback()
        else:
            db.commit()  # PostgreSQL: queued for a process with the chain's key
        assert db.scalar(select(func.max(AuditEntry.seq))) == before
    monkeypatch.undo()
    assert verified(ctx).ok
