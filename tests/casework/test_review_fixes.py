"""Workflow and deadline rules a review found broken, each now kept."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from casework import deadlines, services
from casework.models import Alert, Deadline, DeadlineStatus, Referral
from crisisline.database import utcnow
from crisisline.errors import InvalidInput
from tests.conftest import PDF
from tests.world import close_open_case


def walk(ctx, world, *steps, risk="high"):
    """A case of the on-duty counselor taken through ``steps``; returns its id."""
    counselor, supervisor = world.users["counselor"], world.users["supervisor"]
    with ctx() as db:
        case = services.open_case(counselor, source="parent", risk_level=risk,
                                  student_id=close_open_case(world))
        db.commit()
        now = utcnow().isoformat()

        def document(kind, hospital=None):
            attached = services.attach_document(counselor, case.id, kind=kind, filename="f.pdf",
                                                content=PDF, content_type="application/pdf",
                                                issued_by_hospital_id=hospital)
            db.flush()
            return attached.id
        for step in steps:
            data, actor = {
                "triage_support": ({"risk_level": "moderate", "support_plan": "谈话",
                                    "plan_owner_id": counselor.id}, counselor),
                "dispatch": ({"risk_level": "high", "responder": "周", "emergency_services": []},
                             counselor),
                "contact_guardian": ({"arrived_at": now, "watcher": "李"}, counselor),
                "refer_to_hospital": ({"hospital_id": world.orgs["H1"].id,
                                       "legal_basis": "guardian_consent"}, counselor),
                "confirm_arrival": ({"arrived_at": now}, world.users["liaison"]),
                "start_leave": ({"kind": "leave", "reason": "home_rest",
                                 "expected_end": (utcnow() + timedelta(days=30)).date()
                                 .isoformat()}, counselor),
                "apply_return": (None, counselor),
                "approve_return": ({"note": "ok"}, supervisor),
                "withdraw": ({"reason": "family_decision"}, supervisor),
                "close": ({}, supervisor),
                "reopen": ({"reason": "又出现危机信号"}, counselor),
            }[step]
            if step == "apply_return":
                data = {"certificate_document_id": document("recovery_certificate",
                                                            world.orgs["H1"].id),
                        "application_document_id": document("return_application")}
            case = services.fire_event(actor, case.id, step, data, case.version)
            db.commit()
        return case.id


def follow_ups(ctx, world, case_id, *days_ago):
    with ctx() as db:
        for days in days_ago:
            services.record_follow_up(world.users["counselor"], case_id, kind="phone",
                                      outcome="稳定", occurred_at=utcnow() - timedelta(days=days))
        db.commit()


def statuses(ctx, case_id, kind):
    with ctx() as db:
        return [d.status for d in db.scalars(select(Deadline).where(
            Deadline.case_id == case_id, Deadline.kind == kind).order_by(Deadline.id))]


def test_reaching_the_guardian_meets_the_deadline_and_rules_out_school_consent(ctx, world):
    case_id = walk(ctx, world, "dispatch", "contact_guardian")
    with ctx() as db:
        services.record_guardian_attempt(world.users["counselor"], case_id, reached=True)
        db.commit()
        deadlines.fire_due(now=utcnow() + timedelta(minutes=61))
        db.commit()
        assert not db.scalars(select(Alert).where(Alert.case_id == case_id)).all()
    assert statuses(ctx, case_id, "guardian_reached") == [DeadlineStatus.MET]


def test_a_discharge_does_not_take_the_place_of_the_first_follow_up(api, ctx, world):
    case_id = walk(ctx, world, "dispatch", "contact_guardian", "refer_to_hospital",
                   "confirm_arrival")
    with ctx() as db:
        referral = db.scalar(select(Referral).where(Referral.case_id == case_id))
        services.record_discharge(world.users["liaison"], referral.id, utcnow())
        db.commit()
    with ctx() as db:
        notice = services.attach_document(world.users["counselor"], case_id,
                                          kind="parent_notice", filename="n.pdf", content=PDF,
                                          content_type="application/pdf")
        db.flush()
        case = services.get_case(world.users["counselor"], case_id)
        services.fire_event(world.users["counselor"], case_id, "return_to_class", {
            "diagnosis_outcome": "fit_to_study", "parent_notice_document_id": notice.id},
            case.version)
        db.commit()
    assert statuses(ctx, case_id, "first_follow_up") == [DeadlineStatus.PENDING]


def test_a_deadline_the_poller_fired_still_stops_the_close(ctx, world):
    case_id = walk(ctx, world, "triage_support", risk="moderate")
    follow_ups(ctx, world, case_id, 20, 10)  # the next weekly one is 3 days late
    with ctx() as db:
        deadlines.fire_due()
        db.commit()
        case = services.get_case(world.users["supervisor"], case_id)
        with pytest.raises(InvalidInput) as refused:
            services.fire_event(world.users["supervisor"], case_id, "close", {}, case.version)
    assert "deadlines" in refused.value.fields


def test_daily_reports_cannot_be_filed_ahead(api, ctx, world):
    case_id = walk(ctx, world, "dispatch", "contact_guardian", "refer_to_hospital",
                   "confirm_arrival", "start_leave", "apply_return", "approve_return")
    for _ in range(5):
        api("reporter").post("/api/school-reports", {
            "student_id": world.records["student"].id, "kind": "zero"})
    with ctx():
        [pending] = deadlines.pending(services.get_case(world.users["counselor"], case_id),
                                      "daily_report")
    assert pending.due_at <= utcnow() + timedelta(hours=49)


def test_a_high_risk_student_in_follow_up_is_under_daily_reports(ctx, world):
    case_id = walk(ctx, world, "dispatch", "contact_guardian", "refer_to_hospital",
                   "confirm_arrival", "start_leave", "apply_return", "approve_return")
    assert statuses(ctx, case_id, "daily_report") == [DeadlineStatus.PENDING]


def test_a_reopened_case_needs_follow_ups_of_its_own_before_closing(ctx, world):
    case_id = walk(ctx, world, "triage_support", risk="moderate")
    follow_ups(ctx, world, case_id, 0, 0)
    with ctx() as db:
        supervisor, counselor = world.users["supervisor"], world.users["counselor"]
        case = services.fire_event(supervisor, case_id, "close", {},
                                   services.get_case(supervisor, case_id).version)
        db.commit()
        case = services.fire_event(counselor, case_id, "reopen", {"reason": "复发"}, case.version)
        db.commit()
        with pytest.raises(InvalidInput) as refused:
            services.fire_event(supervisor, case_id, "close", {}, case.version)
    assert "follow_up_contacts" in refused.value.fields


def test_guardian_consent_cannot_come_with_the_guardians_refusal(ctx, world):
    case_id = walk(ctx, world, "dispatch", "contact_guardian")
    with ctx():
        case = services.get_case(world.users["counselor"], case_id)
        with pytest.raises(InvalidInput) as refused:
            services.fire_event(world.users["counselor"], case_id, "refer_to_hospital", {
                "hospital_id": world.orgs["H1"].id, "legal_basis": "guardian_consent",
                "guardian_refused": True}, case.version)
    assert "legal_basis" in refused.value.fields


def test_an_arrival_years_before_the_case_is_refused(ctx, world):
    case_id = walk(ctx, world, "dispatch")
    with ctx():
        case = services.get_case(world.users["counselor"], case_id)
        with pytest.raises(InvalidInput) as refused:
            services.fire_event(world.users["counselor"], case_id, "contact_guardian", {
                "arrived_at": "2000-01-01T08:00:00+08:00", "watcher": "李"}, case.version)
    assert "arrived_at" in refused.value.fields


def test_no_deadline_is_set_on_a_withdrawn_case(ctx, world):
    case_id = walk(ctx, world, "dispatch", "contact_guardian", "refer_to_hospital",
                   "confirm_arrival", "start_leave", "withdraw")
    with ctx():
        referral_id = services.get_case(world.users["supervisor"], case_id).referrals[0].id
        with pytest.raises(InvalidInput):
            services.record_discharge(world.users["liaison"], referral_id, utcnow())


def test_huge_numbers_are_refused_not_a_server_error(api, world):
    assert api("counselor").get(f"/api/cases/{10**20}").status_code in (404, 422)
    response = api("counselor").post("/api/cases", {"source": "other", "risk_level": "low",
                                                    "student_id": 10**20})
    assert response.status_code == 422


def test_a_lost_text_send_is_swept_up_by_the_next_poll(app, ctx, world, monkeypatch, tmp_path):
    from casework import tasks
    for key, value in {"TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "2" * 32,
                       "TWILIO_FROM_NUMBER": "+8610000000000"}.items():
        monkeypatch.setitem(app.config, key, value)
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    world.users["counselor"].phone = "+8613800000009"
    sent: list[int] = []

    def broker_down(alert_ids):
        raise ConnectionError("broker unreachable")
    monkeypatch.setattr(tasks.text_alerts, "delay", broker_down)
    case_id = walk(ctx, world, "dispatch")
    with ctx() as db:
        deadlines.fire_due(now=utcnow() + timedelta(minutes=31))
        db.commit()  # committed although every send failed
        assert db.scalars(select(Alert).where(Alert.case_id == case_id)).all()
    monkeypatch.setattr(tasks.text_alerts, "delay", sent.extend)
    monkeypatch.setattr(tasks, "UNSENT_AFTER", timedelta(0))
    with app.app_context():
        tasks.fire_due_deadlines()
    assert len(sent) >= 1
