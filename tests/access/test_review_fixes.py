"""Holes a review found, closed: each test is one way a record could leak."""
from __future__ import annotations

import re

from sqlalchemy import select

from crisisline.audit.models import AuditEntry
from tests.conftest import login
from tests.world import PASSWORD


def test_a_case_cannot_name_a_student_of_a_school_another_centre_serves(api, world):
    student_b = world.records["student_b"]
    response = api("counselor").post("/api/cases", {"source": "other", "risk_level": "low",
                                                    "student_id": student_b.id})
    assert response.status_code == 422 and "student_id" in response.json["fields"]
    assert api("counselor").get(f"/api/students/{student_b.id}").status_code == 403


def test_a_supervisor_reads_only_their_own_centres_audit_trail(api, client, world):
    api("counselor").post("/api/cases/%d/notes" % world.records["team_case"].id,
                          {"body": "note"})  # done by a centre A person
    login(client, "t_other_supervisor", PASSWORD)  # centre B
    page = client.get("/audit").get_data(as_text=True)
    assert "t_counselor" not in page


def test_a_reporter_sees_only_students_they_reported(client, world):
    login(client, "t_other_reporter", PASSWORD)  # reported only student_b
    page = client.get("/school").get_data(as_text=True)
    assert "学生甲" not in page


def test_a_reporter_names_a_new_student_by_number_within_their_school(api, world):
    response = api("reporter").post("/api/school-reports", {
        "student_number": world.records["student"].student_number, "kind": "zero"})
    assert response.status_code == 201
    assert response.json["student_id"] == world.records["student"].id
    other_school = api("reporter").post("/api/school-reports", {
        "student_number": world.records["student_b"].student_number, "kind": "zero"})
    assert other_school.status_code == 422


def test_listing_cases_and_reading_a_history_are_audited(api, ctx, world):
    case = world.records["team_case"]
    api("supervisor").get("/api/cases")
    api("supervisor").get(f"/api/cases/{case.id}/history")
    with ctx() as db:
        actions = db.scalars(select(AuditEntry.action).where(
            AuditEntry.actor_name == "t_supervisor")).all()
    assert "case.list" in actions and "case.read" in actions


def test_a_liaison_sees_only_what_confirming_the_arrival_needs(api, client, world):
    case = world.records["transfer_case"]
    detail = api("liaison").get(f"/api/cases/{case.id}").json
    # and who is coming (issue 12): the student's name, age and school, the escort's phone
    assert set(detail) == {"id", "state", "version", "hospital_id", "allowed_events",
                           "student", "escort"}
    assert api("liaison").get(f"/api/cases/{case.id}/history").status_code == 403
    assert api("liaison").get(f"/api/cases/{case.id}/notes").status_code == 403
    login(client, "t_liaison", PASSWORD)
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "确认到院" in page and not re.search(r"处置记录|跟踪记录", page)
