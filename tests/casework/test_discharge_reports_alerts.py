"""Hospital discharge, daily and zero reports, and the alerts inbox, through the API."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from casework import deadlines, services
from casework.models import Deadline, DeadlineStatus, DocumentKind, Referral
from crisisline.database import utcnow
from tests.world import close_open_case

PDF = b"%PDF-1.4\n% form\n"


def walk(ctx, world, *steps):
    """A case of the on-duty counselor taken through ``steps`` at the service layer."""
    counselor = world.users["counselor"]
    with ctx() as db:
        case = services.open_case(counselor, source="school_report", risk_level="high",
                                  student_id=close_open_case(world))
        db.commit()
        now = utcnow().isoformat()
        data = {"dispatch": {"risk_level": "high", "responder": "周老师", "emergency_services": []},
                "contact_guardian": {"arrived_at": now, "watcher": "宿管"},
                "refer_to_hospital": {"hospital_id": world.orgs["H1"].id,
                                      "legal_basis": "guardian_consent"},
                "confirm_arrival": {"arrived_at": now}}
        for step in steps:
            if step == "home_supervision":
                document = services.attach_document(
                    counselor, case.id, kind=DocumentKind.GUARDIAN_ACKNOWLEDGEMENT.value,
                    filename="ack.pdf", content=PDF, content_type="application/pdf")
                db.flush()
                data[step] = {"danger_to_others": False, "guardian_refused_admission": True,
                              "acknowledgement_document_id": document.id}
            actor = world.users["liaison"] if step == "confirm_arrival" else counselor
            case = services.fire_event(actor, case.id, step, data[step], case.version)
            db.commit()
        return case.id


def test_a_discharge_makes_the_outpatient_follow_up_due_within_seven_days(api, ctx, world):
    case_id = walk(ctx, world, "dispatch", "contact_guardian", "refer_to_hospital",
                   "confirm_arrival")
    with ctx() as db:
        referral_id = db.scalar(select(Referral.id).where(Referral.case_id == case_id))
    discharged = utcnow() - timedelta(hours=2)
    response = api("liaison").post(f"/api/referrals/{referral_id}/discharge",
                                   {"discharged_at": discharged.isoformat()})
    assert response.status_code == 200 and response.json["discharged_at"]
    with ctx() as db:
        due = db.scalars(select(Deadline).where(Deadline.case_id == case_id,
                                                Deadline.kind == "outpatient_follow_up")).one()
    assert abs(due.due_at - (discharged + timedelta(days=7))) < timedelta(seconds=1)
    assert api("liaison").post(f"/api/referrals/{referral_id}/discharge", {
        "discharged_at": discharged.isoformat()}).status_code == 422  # only once


def test_another_hospitals_liaison_cannot_record_a_discharge(api, ctx, world):
    case_id = walk(ctx, world, "dispatch", "contact_guardian", "refer_to_hospital",
                   "confirm_arrival")
    with ctx() as db:
        referral_id = db.scalar(select(Referral.id).where(Referral.case_id == case_id))
    response = api("other_liaison").post(f"/api/referrals/{referral_id}/discharge",
                                         {"discharged_at": utcnow().isoformat()})
    assert response.status_code == 403


def test_a_follow_up_contact_meets_the_outpatient_follow_up(api, ctx, world):
    case_id = walk(ctx, world, "dispatch", "contact_guardian", "refer_to_hospital",
                   "confirm_arrival")
    with ctx() as db:
        referral_id = db.scalar(select(Referral.id).where(Referral.case_id == case_id))
    api("liaison").post(f"/api/referrals/{referral_id}/discharge",
                        {"discharged_at": utcnow().isoformat()})
    response = api("counselor").post(f"/api/cases/{case_id}/follow-ups", {
        "kind": "phone", "outcome": "已按时门诊复诊", "occurred_at": utcnow().isoformat()})
    assert response.status_code == 201
    with ctx() as db:
        status = db.scalar(select(Deadline.status).where(
            Deadline.case_id == case_id, Deadline.kind == "outpatient_follow_up"))
    assert status == DeadlineStatus.MET


@pytest.mark.parametrize("kind", ["daily", "zero"])
def test_a_daily_or_zero_report_meets_todays_deadline_and_sets_tomorrows(api, ctx, world,
                                                                          kind):
    case_id = walk(ctx, world, "dispatch", "contact_guardian", "home_supervision")
    with ctx() as db:
        [today] = db.scalars(select(Deadline).where(Deadline.case_id == case_id,
                                                    Deadline.kind == "daily_report")).all()
    response = api("reporter").post("/api/school-reports", {
        "student_id": world.records["student"].id, "kind": kind})
    assert response.status_code == 201
    with ctx() as db:
        rows = db.scalars(select(Deadline).where(Deadline.case_id == case_id,
                                                 Deadline.kind == "daily_report")
                          .order_by(Deadline.id)).all()
    assert [row.status for row in rows] == [DeadlineStatus.MET, DeadlineStatus.PENDING]
    assert rows[1].due_at == today.due_at + timedelta(hours=24)


def test_a_missing_daily_report_is_an_alert(ctx, world):
    case_id = walk(ctx, world, "dispatch", "contact_guardian", "home_supervision")
    with ctx() as db:  # the school is reminded first, the owner if it still has not come
        fired = deadlines.fire_due(now=utcnow() + timedelta(hours=25))
        db.commit()
        fired += deadlines.fire_due(now=utcnow() + timedelta(hours=28))
        db.commit()
        owner_alerts = services.my_alerts(world.users["counselor"])
    assert fired >= 2
    assert any(alert.kind == "missed_daily_report_escalation" and alert.case_id == case_id
               for alert in owner_alerts)


def test_a_reporter_reports_only_students_of_their_own_school(api, world):
    response = api("reporter").post("/api/school-reports", {
        "student_id": world.records["student_b"].id, "kind": "zero"})
    assert response.status_code == 422 and "student_id" in response.json["fields"]
    assert api("counselor").post("/api/school-reports", {
        "student_id": world.records["student"].id, "kind": "zero"}).status_code == 403


def test_an_at_risk_report_needs_what_was_seen(api, world):
    response = api("reporter").post("/api/school-reports", {
        "student_id": world.records["student"].id, "kind": "at_risk"})
    assert response.status_code == 422 and "note" in response.json["fields"]


def test_alerts_are_listed_for_their_recipient_and_acknowledged_once(api, ctx, world):
    walk(ctx, world, "dispatch")
    with ctx() as db:
        deadlines.fire_due(now=utcnow() + timedelta(minutes=31))
        db.commit()
    inbox = api("counselor").get("/api/alerts").json
    assert [alert["kind"] for alert in inbox] == ["missed_responder_on_site"]
    alert_id = inbox[0]["id"]
    assert api("volunteer").post(f"/api/alerts/{alert_id}/acknowledge").status_code == 404
    response = api("counselor").post(f"/api/alerts/{alert_id}/acknowledge")
    assert response.status_code == 200 and response.json["acknowledged_at"]
    assert api("counselor").get("/api/alerts").json == []
