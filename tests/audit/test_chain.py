"""The audit trail: written with the change it describes, chained, and tamper-evident."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select, text

from crisisline import audit
from crisisline.accounts import services
from crisisline.audit.models import AuditEntry, AuditQueued
from crisisline.audit.services import (chain_queued, record_check, verify_chain,
                                       verify_since_last_check)
from tests.conftest import app_context, login, needs_postgres
from tests.world import PASSWORD, build_world


@pytest.fixture
def entries(ctx):
    """Five committed entries of our own; returns their seq numbers."""
    with ctx() as db:
        for n in range(5):
            audit.record("test.step", object_type="thing", object_id=n)
            db.commit()
        return list(db.scalars(select(AuditEntry.seq).where(AuditEntry.action == "test.step")
                               .order_by(AuditEntry.seq)))


def sql(ctx, statement: str, **params) -> None:
    with ctx() as db:
        db.execute(text(statement), params)
        db.commit()


def test_an_untouched_chain_verifies(ctx, entries):
    with ctx():
        report = verify_chain()
    assert report.ok and report.entries >= 5


def test_an_edited_entry_is_detected_and_named(ctx, entries):
    sql(ctx, "UPDATE audit_entries SET action = 'case.read' WHERE seq = :seq", seq=entries[2])
    with ctx():
        report = verify_chain()
    assert not report.ok and report.first_bad_seq == entries[2]


def test_an_edited_change_record_is_detected(ctx, entries):
    sql(ctx, "UPDATE audit_entries SET object_id = '99' WHERE seq = :seq", seq=entries[1])
    with ctx():
        assert verify_chain().first_bad_seq == entries[1]


def test_a_deleted_entry_is_detected(ctx, entries):
    sql(ctx, "DELETE FROM audit_entries WHERE seq = :seq", seq=entries[2])
    with ctx():
        report = verify_chain()
    assert not report.ok and report.first_bad_seq == entries[2]


def test_reordered_entries_are_detected(ctx, entries):
    first, second = entries[1], entries[2]
    sql(ctx, "UPDATE audit_entries SET seq = -1 WHERE seq = :a", a=first)
    sql(ctx, "UPDATE audit_entries SET seq = :a WHERE seq = :b", a=first, b=second)
    sql(ctx, "UPDATE audit_entries SET seq = :b WHERE seq = -1", b=second)
    with ctx():
        report = verify_chain()
    assert not report.ok and report.first_bad_seq == first


def test_a_truncated_chain_is_detected(ctx, entries):
    sql(ctx, "DELETE FROM audit_entries WHERE seq >= :seq", seq=entries[3])
    with ctx():
        report = verify_chain()
    assert not report.ok and "removed from the end" in report.problem


def test_an_emptied_chain_is_detected(ctx, entries):
    sql(ctx, "DELETE FROM audit_entries")
    with ctx():
        assert not verify_chain().ok


def test_the_viewer_checks_only_entries_after_the_last_intact_full_check(ctx, entries):
    with ctx() as db:
        checkpoint = record_check(verify_chain())
        db.commit()
        audit.record("test.after_check", object_type="thing", object_id=1)
        db.commit()
        newest = db.scalar(select(func.max(AuditEntry.seq)))
        last, report = verify_since_last_check()
    assert last.id == checkpoint.id and last.ok and last.entries == newest - 1
    assert report.ok and report.entries == newest


def test_an_entry_altered_after_the_checkpoint_is_still_caught_by_the_viewer(ctx, entries):
    with ctx() as db:
        record_check(verify_chain())
        db.commit()
        audit.record("test.after_check", object_type="thing", object_id=1)
        db.commit()
        newest = db.scalar(select(func.max(AuditEntry.seq)))
    sql(ctx, "UPDATE audit_entries SET action = 'x' WHERE seq = :seq", seq=newest)
    with ctx():
        _, report = verify_since_last_check()
    assert not report.ok and report.first_bad_seq == newest


def test_an_entry_altered_before_the_checkpoint_is_caught_by_the_next_full_check(ctx, entries):
    with ctx() as db:
        record_check(verify_chain())
        db.commit()
    sql(ctx, "UPDATE audit_entries SET action = 'x' WHERE seq = :seq", seq=entries[0])
    with ctx():
        full = verify_chain()
    assert not full.ok and full.first_bad_seq == entries[0]


def test_entries_cannot_be_changed_through_the_application(ctx, entries):
    with ctx() as db:
        entry = db.get(AuditEntry, entries[0])
        entry.action = "rewritten"
        with pytest.raises(PermissionError):
            db.flush()


def test_a_rolled_back_transaction_leaves_no_entry(ctx):
    with ctx() as db:
        audit.record("test.rolled_back")
        db.rollback()
        audit.record("test.committed")
        db.commit()
        actions = set(db.scalars(select(AuditEntry.action)))
    assert "test.committed" in actions and "test.rolled_back" not in actions


def test_a_request_that_fails_after_auditing_leaves_no_entry(app, client, ctx, monkeypatch):
    with ctx() as db:
        build_world()
        db.commit()
        before = db.scalar(select(func.count(AuditEntry.seq)))

    def broken_login_user(user):
        raise RuntimeError("the session store is down")
    monkeypatch.setattr("crisisline.accounts.views.login_user", broken_login_user)
    with pytest.raises(RuntimeError):
        login(client, "t_volunteer", PASSWORD)
    with ctx() as db:
        assert db.scalar(select(func.count(AuditEntry.seq))) == before
        assert verify_chain().ok


def test_an_entry_says_who_did_what_from_where(client, ctx):
    with ctx() as db:
        world = build_world()
        db.commit()
    login(client, "t_supervisor", PASSWORD)
    client.get(f"/api/cases/{world.records['team_case'].id}",
               headers={"X-Request-ID": "req-123"}, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    with ctx() as db:
        entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "case.read")).one()
    assert (entry.actor_name, entry.actor_role) == ("t_supervisor", "supervisor")
    assert (entry.object_type, entry.object_id) == ("case", str(world.records["team_case"].id))
    assert (entry.request_id, entry.source_address, entry.outcome) == ("req-123", "10.1.2.3",
                                                                       "success")
    assert entry.occurred_at.utcoffset().total_seconds() == 0


def test_sensitive_fields_are_recorded_as_changed_without_their_values(ctx):
    with ctx() as db:
        build_world()
        services.create_user("private_person", "volunteer", "a-secret-password",
                             phone="+8613812345678", organisation_codes=["T-A"])
        db.commit()
        entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "user.create")).one()
    assert entry.changes["password_hash"] == {"changed": True}
    assert entry.changes["phone"] == {"changed": True}
    assert entry.changes["username"] == {"old": None, "new": "private_person"}
    assert "+8613812345678" not in str(entry.changes)


@pytest.mark.commits
def test_the_chain_stays_linear_when_many_transactions_append_at_once(app):
    """Real commits from many threads at once (on PostgreSQL: many connections)."""
    threads, per_thread = 6, 15
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def append(worker: int):
        try:
            start.wait()
            for n in range(per_thread):
                with app_context(app) as db:
                    audit.record("test.concurrent", object_type="worker", object_id=worker)
                    db.commit()
        except BaseException as error:  # surfaced below
            errors.append(error)

    workers = [threading.Thread(target=append, args=(w,)) for w in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    with app_context(app) as db:
        report = verify_chain()
        written = db.scalar(select(func.count()).where(AuditEntry.action == "test.concurrent"))
    assert report.ok, report.problem
    assert written == threads * per_thread


@needs_postgres
def test_on_postgresql_a_commit_that_finds_the_head_free_chains_its_entries_itself(
        ctx, monkeypatch):
    rechecks = []  # the look at the queue after the commit, made to do nothing here
    monkeypatch.setattr("crisisline.audit.services.chain_queued",
                        lambda bind, passes: rechecks.append(passes))
    with ctx() as db:
        audit.record("test.head_free", object_type="thing", object_id=7)
        db.commit()
        entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "test.head_free")).one()
        assert entry.object_id == "7"  # chained by the commit itself, not after it
        assert len(rechecks) == 1  # then it looks again for what others left queued
        assert db.scalar(select(func.count()).select_from(AuditQueued)) == 0


@needs_postgres
@pytest.mark.commits
def test_on_postgresql_a_commit_that_finds_the_head_busy_queues_and_does_not_wait(app):
    engine = app.extensions["crisisline.engine"]
    marker = f"test.head_busy.{threading.get_ident()}"
    with engine.connect() as other:  # another transaction is chaining: it holds the head
        other.execute(text("SELECT * FROM audit_chain_head WHERE id = 1 FOR UPDATE"))
        with app_context(app) as db:
            audit.record(marker, object_type="thing", object_id=8)
            db.commit()  # would wait here for the head, if it waited
            queued = db.scalars(select(AuditQueued).where(AuditQueued.action == marker)).all()
            chained = db.scalars(select(AuditEntry).where(AuditEntry.action == marker)).all()
        assert [(q.object_type, q.object_id) for q in queued] == [("thing", "8")]
        assert chained == []
        other.rollback()  # that transaction ends
    with app_context(app) as db:
        audit.record(f"{marker}.next", object_type="thing", object_id=9)
        db.commit()  # the next commit takes the head: the queued entry first, then its own
        actions = db.scalars(select(AuditEntry.action).where(
            AuditEntry.action.in_([marker, f"{marker}.next"])).order_by(AuditEntry.seq)).all()
        assert actions == [marker, f"{marker}.next"]
        assert not db.scalars(select(AuditQueued).where(AuditQueued.action == marker)).all()
        assert verify_chain().ok


@needs_postgres
def test_on_postgresql_entries_left_queued_by_a_dead_process_are_chained_by_the_sweep(
        ctx, monkeypatch):
    monkeypatch.setattr("crisisline.audit.services._head_unless_busy", lambda session: None)
    monkeypatch.setattr("crisisline.audit.services.chain_queued", lambda bind, passes: None)
    with ctx() as db:
        for n in range(3):  # three commits that found the head busy, then their process died
            audit.record("test.orphaned", object_type="thing", object_id=n)
            db.commit()
    monkeypatch.undo()
    with ctx() as db:
        assert chain_queued() == 3  # the 5 s sweep, or `crisisline audit verify`
        objects = db.scalars(select(AuditEntry.object_id).where(
            AuditEntry.action == "test.orphaned").order_by(AuditEntry.seq)).all()
        assert objects == ["0", "1", "2"]
        assert db.scalar(select(func.count()).select_from(AuditQueued)) == 0
        assert verify_chain().ok
