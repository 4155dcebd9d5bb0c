"""A missed daily report tells the school's reporters who owe it first; only if it is
still missing after the policy's escalation time are the case owner and supervisors told.
A report filed in between settles both."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from casework import deadlines
from casework.models import Alert, Deadline
from crisisline.accounts.models import User
from crisisline.database import utcnow
from tests.casework.test_discharge_reports_alerts import walk


def told(ctx, case_id: int, kind: str) -> list[str]:
    with ctx() as db:
        return sorted(alert.recipient.username for alert in db.scalars(
            select(Alert).where(Alert.case_id == case_id, Alert.kind == kind)))


def daily_due(ctx, case_id: int):
    with ctx() as db:
        return db.scalar(select(Deadline.due_at).where(Deadline.case_id == case_id,
                                                       Deadline.kind == "daily_report"))


def fire(ctx, when) -> None:
    with ctx() as db:
        deadlines.fire_due(now=when)
        db.commit()


def test_the_class_is_told_first_then_the_owner_and_supervisors(ctx, world, network):
    case_id = walk(ctx, world, "dispatch", "contact_guardian", "home_supervision")
    due = daily_due(ctx, case_id)
    fire(ctx, due + timedelta(minutes=1))
    assert told(ctx, case_id, "daily_report_reminder") == ["t_c1_committee", "t_c1_head"]
    assert told(ctx, case_id, "missed_daily_report") == []
    assert told(ctx, case_id, "missed_daily_report_escalation") == []
    fire(ctx, due + timedelta(hours=2, minutes=1))
    assert told(ctx, case_id, "missed_daily_report_escalation") == ["t_counselor",
                                                                     "t_supervisor"]


def test_a_report_after_the_reminder_spares_the_owner(api, ctx, world, network):
    case_id = walk(ctx, world, "dispatch", "contact_guardian", "home_supervision")
    due = utcnow() - timedelta(minutes=5)  # today's report was due five minutes ago
    with ctx() as db:
        db.scalar(select(Deadline).where(Deadline.case_id == case_id,
                                         Deadline.kind == "daily_report")).due_at = due
        db.commit()
    fire(ctx, utcnow())
    assert told(ctx, case_id, "daily_report_reminder") == ["t_c1_committee", "t_c1_head"]
    response = api("c1_head").post("/api/school-reports", {
        "kind": "daily", "student_id": network.student_c1, "note": "情绪平稳，按时就寝"})
    assert response.status_code == 201
    fire(ctx, due + timedelta(hours=3))
    assert told(ctx, case_id, "missed_daily_report_escalation") == []
    with ctx() as db:  # one chain of daily deadlines goes on, not two
        assert len(db.scalars(select(Deadline).where(
            Deadline.case_id == case_id, Deadline.kind == "daily_report",
            Deadline.status == "pending")).all()) == 1


def test_without_a_class_the_psychology_centre_is_reminded(ctx, world):
    case_id = walk(ctx, world, "dispatch", "contact_guardian", "home_supervision")
    fire(ctx, utcnow() + timedelta(hours=25))
    assert told(ctx, case_id, "daily_report_reminder") == ["t_psych_reporter"]


def test_with_nobody_at_school_to_tell_the_owner_is_told_at_once(ctx, world):
    with ctx() as db:
        db.get(User, world.users["psych_reporter"].id).disabled_at = utcnow()
        db.commit()
    case_id = walk(ctx, world, "dispatch", "contact_guardian", "home_supervision")
    fire(ctx, utcnow() + timedelta(hours=25))
    assert told(ctx, case_id, "missed_daily_report") == ["t_counselor", "t_supervisor"]
