"""A school's at-risk report reaches a person at the centre, who turns it into a case (or
closes it with the reason), and the reporter sees each step; daily and zero reports are
filed once a day. Through the API, as the reporter and the centre use it."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from casework.models import Alert, Case
from crisisline.database import utcnow
from crisisline.twilio_rest import recorded_requests
from hotline.models import Presence
from schoolnet import services
from tests.casework.test_discharge_reports_alerts import walk
from tests.test_realtime import consoles, wait_until
from tests.world import close_open_case

SEEN = "手腕有新的划痕，说不想活了"


def at_risk(api, student_id: int, note: str = SEEN):
    return api("reporter").post("/api/school-reports", {"student_id": student_id,
                                                        "kind": "at_risk", "note": note})


@pytest.fixture
def on_duty(ctx, world):
    """t_counselor is on duty (signed in to the hotline); t_owner_counselor is not."""
    with ctx() as db:
        db.add(Presence(user_id=world.users["counselor"].id, centre_id=world.orgs["A"].id,
                        state="available"))
        db.commit()


@pytest.fixture
def twilio(app, ctx, world, monkeypatch, tmp_path):
    """Texts go to Twilio's recorded far side; the alerted staff have phones."""
    for key, value in {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "t" * 32,
                       "TWILIO_FROM_NUMBER": "+861088880000",
                       "TWILIO_TRANSPORT": "record"}.items():
        monkeypatch.setitem(app.config, key, value)
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    with ctx() as db:
        for name, phone in (("counselor", "+8613800000001"), ("supervisor", "+8613800000002")):
            db.merge(world.users[name]).phone = phone
        db.commit()


def alerts_of(ctx, report_id: int) -> dict[str, set[str]]:
    with ctx() as db:
        return {alert.kind: {a.recipient.username for a in db.scalars(
            select(Alert).where(Alert.school_report_id == report_id,
                                Alert.kind == alert.kind))}
                for alert in db.scalars(select(Alert).where(
                    Alert.school_report_id == report_id))}


def test_an_at_risk_report_alerts_the_supervisors_and_the_counselors_on_duty(
        api, ctx, world, on_duty):
    response = at_risk(api, world.records["student"].id)
    assert response.status_code == 201 and response.json["status"] == "received"
    assert alerts_of(ctx, response.json["id"]) == {
        "school_report_at_risk": {"t_supervisor", "t_counselor"}}  # not the off-duty one


def test_the_alert_is_texted_once_after_the_commit(app, api, ctx, world, on_duty, twilio):
    report = at_risk(api, world.records["student"].id).json
    with app.app_context():
        sent = [r["data"] for r in recorded_requests() if f"#{report['id']}" in r["data"]["Body"]]
    assert sorted(text["To"] for text in sent) == ["+8613800000001", "+8613800000002"]
    assert all("学生甲" not in text["Body"] and SEEN not in text["Body"] for text in sent)


def test_the_centre_lists_the_open_reports_oldest_first_with_student_and_reporter(
        api, world):
    first = at_risk(api, world.records["student"].id, "第一次报告").json
    second = at_risk(api, world.records["student"].id, "第二次报告").json
    listed = api("counselor").get("/api/school-reports", status="open").json
    ours = [report for report in listed if report["id"] in (first["id"], second["id"])]
    assert [report["id"] for report in ours] == [first["id"], second["id"]]
    assert ours[0]["student"]["name"] == "学生甲"
    assert ours[0]["reporter"]["name"] == world.users["reporter"].display_name
    assert ours[0]["note"] == "第一次报告"
    # another centre's counselor neither lists nor reads it
    assert first["id"] not in [r["id"] for r in
                               api("outsider_counselor").get("/api/school-reports",
                                                             status="open").json]
    assert api("outsider_counselor").get(
        f"/api/school-reports/{first['id']}").status_code in (403, 404)


def test_a_counselor_takes_a_report_and_nobody_else_can(api, world):
    report = at_risk(api, world.records["student"].id).json
    taken = api("counselor").post(f"/api/school-reports/{report['id']}/take", {})
    assert taken.status_code == 200 and taken.json["status"] == "in_progress"
    again = api("owner_counselor").post(f"/api/school-reports/{report['id']}/take", {})
    assert again.status_code == 409
    assert api("reporter").get(f"/api/school-reports/{report['id']}").json["status"] == \
        "in_progress"


def test_opening_a_case_links_it_to_the_student_and_the_report(api, ctx, world):
    with ctx() as db:
        student_id = close_open_case(world)
        db.commit()
    report = at_risk(api, student_id).json
    opened = api("counselor").post(f"/api/school-reports/{report['id']}/open-case",
                                   {"risk_level": "imminent"})
    assert opened.status_code == 201
    case = opened.json
    assert case["student_id"] == student_id and case["source"] == "school_report"
    assert case["risk_level"] == "imminent" and case["summary"] == SEEN
    seen_by_reporter = api("reporter").get(f"/api/school-reports/{report['id']}").json
    assert seen_by_reporter["status"] == "case_opened"
    assert seen_by_reporter["case_id"] == case["id"]
    again = api("counselor").post(f"/api/school-reports/{report['id']}/open-case", {})
    assert again.status_code == 409  # handled already: no second case


def test_a_report_on_a_student_with_an_open_case_joins_it_and_alerts_its_owner(
        api, ctx, world):
    open_case = world.records["team_case"]
    with ctx() as db:
        db.get(Case, open_case.id).owner_id = world.users["counselor"].id
        db.commit()
    report = at_risk(api, world.records["student"].id).json
    # t_owner_counselor (not on the case's team) handles it: the case is another's
    joined = api("owner_counselor").post(f"/api/school-reports/{report['id']}/open-case", {})
    assert joined.status_code == 201 and joined.json["id"] == open_case.id
    assert "summary" not in joined.json and joined.json["joined"] is True  # its number only
    assert api("owner_counselor").get(f"/api/cases/{open_case.id}").status_code in (403, 404)
    with ctx() as db:
        assert db.scalar(select(Case.id).where(Case.student_id == world.records["student"].id,
                                               Case.id != open_case.id)) is None
    assert alerts_of(ctx, report["id"])["school_report_on_open_case"] == {"t_counselor"}


def test_closing_without_a_case_needs_the_reason_which_the_reporter_sees(api, world):
    report = at_risk(api, world.records["student"].id).json
    refused = api("counselor").post(f"/api/school-reports/{report['id']}/close",
                                    {"reason": "  "})
    assert refused.status_code == 422 and "reason" in refused.json["fields"]
    assert api("reporter").get(f"/api/school-reports/{report['id']}").json["status"] == \
        "received"  # nothing changed
    closed = api("counselor").post(f"/api/school-reports/{report['id']}/close",
                                   {"reason": "已核实，无需干预"})
    assert closed.status_code == 200
    seen = api("reporter").get(f"/api/school-reports/{report['id']}").json
    assert (seen["status"], seen["closed_reason"]) == ("closed", "已核实，无需干预")
    assert seen["case_id"] is None


def test_a_taken_report_is_the_takers_or_a_supervisors_to_settle(api, world):
    report = at_risk(api, world.records["student"].id).json
    api("counselor").post(f"/api/school-reports/{report['id']}/take", {})
    other = api("owner_counselor").post(f"/api/school-reports/{report['id']}/close",
                                        {"reason": "已核实"})
    assert other.status_code == 409
    assert api("supervisor").post(f"/api/school-reports/{report['id']}/close",
                                  {"reason": "已核实，无需干预"}).status_code == 200


def test_a_daily_report_is_for_today_or_yesterday(api, world):
    from datetime import date
    response = api("reporter").post("/api/school-reports", {
        "kind": "daily", "student_id": world.records["student"].id,
        "report_date": (date.today() - timedelta(days=5)).isoformat()})
    assert response.status_code == 422 and "report_date" in response.json["fields"]


def test_only_the_centre_handles_a_report(api, world):
    report = at_risk(api, world.records["student"].id).json
    for outsider in ("outsider_counselor", "other_supervisor", "reporter", "volunteer"):
        response = api(outsider).post(f"/api/school-reports/{report['id']}/take", {})
        assert response.status_code in (403, 404), outsider


def test_a_report_nobody_takes_in_time_alerts_the_supervisors_once(api, ctx, world):
    late = at_risk(api, world.records["student"].id).json
    taken = at_risk(api, world.records["student"].id).json
    api("counselor").post(f"/api/school-reports/{taken['id']}/take", {})
    for minutes in (14, 16, 30):  # the policy's 15 minutes; a second sweep says nothing new
        with ctx() as db:
            services.alert_untaken_reports(now=utcnow() + timedelta(minutes=minutes))
            db.commit()
        if minutes == 14:
            assert "school_report_untaken" not in alerts_of(ctx, late["id"])
    with ctx() as db:
        untaken = db.scalars(select(Alert).where(Alert.school_report_id == late["id"],
                                                 Alert.kind == "school_report_untaken")).all()
        assert [alert.recipient.username for alert in untaken] == ["t_supervisor"]
    assert "school_report_untaken" not in alerts_of(ctx, taken["id"])


def test_a_zero_report_needs_no_student_and_is_filed_once_a_day(api):
    first = api("reporter").post("/api/school-reports", {"kind": "zero"})
    assert first.status_code == 201 and first.json["student_id"] is None
    second = api("reporter").post("/api/school-reports", {"kind": "zero"})
    assert second.status_code == 409
    assert second.json["first"]["id"] == first.json["id"]
    assert second.json["error"] == f"当天已报告过：报告 #{first.json['id']}"


def test_one_daily_or_zero_report_per_student_and_day(api, world):
    student_id = world.records["student"].id
    daily = api("reporter").post("/api/school-reports", {"kind": "daily",
                                                         "student_id": student_id})
    assert daily.status_code == 201
    for kind in ("daily", "zero"):
        again = api("reporter").post("/api/school-reports", {"kind": kind,
                                                             "student_id": student_id})
        assert again.status_code == 409 and again.json["first"]["id"] == daily.json["id"]
    # another reporter of the same school reports the same student: the same day's report
    other = api("other_reporter").post("/api/school-reports", {"kind": "daily",
                                                               "student_id": student_id})
    assert other.status_code == 409
    # at-risk reports are never refused as duplicates
    assert at_risk(api, student_id).status_code == 201
    assert at_risk(api, student_id).status_code == 201


def test_a_daily_report_names_a_student(api):
    response = api("reporter").post("/api/school-reports", {"kind": "daily"})
    assert response.status_code == 422 and "student_id" in response.json["fields"]


def test_the_reporter_sees_the_students_due_today_until_reported(api, ctx, world, network):
    walk(ctx, world, "dispatch", "contact_guardian", "home_supervision")  # daily reporting
    due = api("c1_head").get("/api/school-reports/due-today").json
    assert [student["id"] for student in due] == [network.student_c1]
    assert api("c2_committee").get("/api/school-reports/due-today").json == []  # another class
    api("c1_head").post("/api/school-reports", {"kind": "daily", "student_id": network.student_c1,
                                                "note": "情绪平稳"})
    assert api("c1_head").get("/api/school-reports/due-today").json == []


def test_the_supervisor_and_reporter_hear_of_each_step_live(app, api, live_server, world):
    with consoles(app, live_server, "supervisor", "reporter") as (supervisor, reporter):
        report = at_risk(api, world.records["student"].id).json
        raised = wait_until(supervisor, "alert.raised",
                            lambda data: data.get("school_report_id") == report["id"])
        assert raised and raised[0]["kind"] == "school_report_at_risk"
        api("counselor").post(f"/api/school-reports/{report['id']}/close",
                              {"reason": "已核实，无需干预"})
        told = wait_until(reporter, "school_report.updated",
                          lambda data: data["status"] == "closed")
        assert told and told[0]["school_report_id"] == report["id"]
