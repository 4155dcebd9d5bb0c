"""Durable deadlines with a controllable clock: fired once, on time, to the right people."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from casework import deadlines, services
from casework.models import Alert, Deadline, DeadlineStatus, DocumentKind
from crisisline.audit.models import AuditEntry
from crisisline.database import utcnow

PDF = b"%PDF-1.4\n% signed form\n"


def open_high_risk_case(world, db):
    counselor = world.users["counselor"]
    case = services.open_case(counselor, source="hotline_contact", risk_level="high")
    db.commit()
    return case


def fire(db, case, event, data, actor):
    case = services.fire_event(actor, case.id, event, data, case.version)
    db.commit()
    return case


def dispatched(world, db):
    case = open_high_risk_case(world, db)
    return fire(db, case, "dispatch", {"risk_level": "high", "responder": "王老师",
                                       "emergency_services": []}, world.users["counselor"])


def deadline(db, case, kind) -> Deadline:
    return db.scalars(select(Deadline).where(Deadline.case_id == case.id,
                                             Deadline.kind == kind)).one()


def test_dispatch_sets_the_responder_on_site_deadline_thirty_minutes_out(ctx, world):
    with ctx() as db:
        before = utcnow()
        case = dispatched(world, db)
        due = deadline(db, case, "responder_on_site").due_at
    assert before + timedelta(minutes=30) <= due <= utcnow() + timedelta(minutes=30)


def test_a_deadline_fires_when_due_and_never_twice(ctx, world):
    with ctx() as db:
        case = dispatched(world, db)
        ours = deadline(db, case, "responder_on_site")
        deadlines.fire_due(now=ours.due_at - timedelta(seconds=1))
        assert ours.status == DeadlineStatus.PENDING
        deadlines.fire_due(now=ours.due_at)
        db.commit()
        assert ours.status == DeadlineStatus.FIRED
        deadlines.fire_due(now=ours.due_at + timedelta(hours=1))
        db.commit()
        missed = db.scalars(select(AuditEntry).where(AuditEntry.action == "deadline.missed",
                                                     AuditEntry.object_id == str(ours.id)))
        assert len(missed.all()) == 1


def test_a_missed_deadline_alerts_the_owner_and_the_centres_supervisors_only(ctx, world):
    with ctx() as db:
        case = services.open_case(world.users["owner_counselor"], source="hotline_contact",
                                  risk_level="high")
        db.commit()
        case = fire(db, case, "dispatch", {"risk_level": "imminent", "responder": "值班员",
                                           "emergency_services": ["120"]},
                    world.users["owner_counselor"])
        deadlines.fire_due(now=utcnow() + timedelta(minutes=31))
        db.commit()
        recipients = set(db.scalars(select(Alert.recipient_id).where(Alert.case_id == case.id)))
    assert recipients == {world.users["owner_counselor"].id, world.users["supervisor"].id}


def test_arriving_on_site_meets_the_deadline_so_it_never_fires(ctx, world):
    with ctx() as db:
        case = dispatched(world, db)
        fire(db, case, "contact_guardian", {"arrived_at": utcnow().isoformat(),
                                            "watcher": "宿管李阿姨"}, world.users["counselor"])
        assert deadline(db, case, "responder_on_site").status == DeadlineStatus.MET
        deadlines.fire_due(now=utcnow() + timedelta(minutes=31))
        assert deadline(db, case, "responder_on_site").status == DeadlineStatus.MET
        assert deadline(db, case, "guardian_reached").status == DeadlineStatus.PENDING


def test_daily_reports_keep_falling_due_while_the_student_is_under_home_supervision(ctx, world):
    with ctx() as db:
        counselor = world.users["counselor"]
        case = dispatched(world, db)
        case = fire(db, case, "contact_guardian", {"arrived_at": utcnow().isoformat(),
                                                   "watcher": "班主任"}, counselor)
        document = services.attach_document(counselor, case.id,
                                            kind=DocumentKind.GUARDIAN_ACKNOWLEDGEMENT.value,
                                            filename="ack.pdf", content=PDF,
                                            content_type="application/pdf")
        db.commit()
        case = fire(db, case, "home_supervision", {
            "danger_to_others": False, "guardian_refused_admission": True,
            "acknowledgement_document_id": document.id}, counselor)
        first = deadline(db, case, "daily_report")
        deadlines.fire_due(now=first.due_at)
        db.commit()
        pending = deadlines.pending(case, "daily_report")
    assert len(pending) == 1
    assert pending[0].due_at == first.due_at + timedelta(hours=24)


def test_closing_a_case_cancels_its_remaining_deadlines(ctx, world):
    with ctx() as db:
        counselor, supervisor = world.users["counselor"], world.users["supervisor"]
        case = services.open_case(counselor, source="parent", risk_level="moderate")
        db.commit()
        case = fire(db, case, "triage_support", {"risk_level": "moderate",
                                                 "support_plan": "每周谈话一次",
                                                 "plan_owner_id": counselor.id}, counselor)
        for days_ago in (2, 1):
            services.record_follow_up(counselor, case.id, kind="phone", outcome="情绪平稳",
                                      occurred_at=utcnow() - timedelta(days=days_ago))
        db.commit()
        assert deadlines.pending(case)
        fire(db, case, "close", {"note": "跟踪稳定"}, supervisor)
        statuses = set(db.scalars(select(Deadline.status).where(Deadline.case_id == case.id)))
    assert DeadlineStatus.PENDING not in statuses
    assert DeadlineStatus.CANCELLED in statuses


def test_a_follow_up_contact_schedules_the_next_weekly_then_monthly(ctx, world):
    with ctx() as db:
        counselor = world.users["counselor"]
        case = services.open_case(counselor, source="screening", risk_level="low")
        db.commit()
        case = fire(db, case, "triage_support", {"risk_level": "low", "support_plan": "关注",
                                                 "plan_owner_id": counselor.id}, counselor)
        start = utcnow() - timedelta(days=60)
        intervals = []
        for n in range(6):
            when = start + timedelta(days=n)
            services.record_follow_up(counselor, case.id, kind="interview", outcome="ok",
                                      occurred_at=when)
            db.commit()
            [next_due] = deadlines.pending(case, "follow_up")
            intervals.append((next_due.due_at - when).days)
    assert intervals == [7, 7, 7, 7, 30, 30]
