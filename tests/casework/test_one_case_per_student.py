"""One student, one open case (一生一案); and nobody who ever owned a case closes it."""
from __future__ import annotations

import re
from datetime import date

from sqlalchemy import select

from casework.models import Case, Student
from crisisline.audit.models import AuditEntry
from tests.conftest import login
from tests.world import PASSWORD


def new_student(ctx, world, number: str = "t_S9") -> int:
    with ctx() as db:
        student = Student(school_id=world.orgs["S"].id, student_number=number, name="学生丙",
                          birth_date=date(2010, 5, 5))
        db.add(student)
        db.commit()
        return student.id


def open_for(caller, student_id: int):
    return caller.post("/api/cases", {"source": "school_report", "risk_level": "high",
                                      "student_id": student_id})


def test_a_second_open_case_for_a_student_is_refused_pointing_to_the_open_one(api, ctx,
                                                                             world):
    open_case = world.records["team_case"]  # the world's open case of this student
    response = open_for(api("counselor"), world.records["student"].id)
    assert response.status_code == 409
    assert response.json["case_id"] == open_case.id
    assert response.json["case_url"].endswith(f"/cases/{open_case.id}")
    with ctx() as db:
        assert len(db.scalars(select(Case).where(
            Case.student_id == world.records["student"].id)).all()) == 1


def test_a_counselor_outside_the_open_case_learns_only_its_number(api, world):
    response = open_for(api("owner_counselor"), world.records["student"].id)
    assert response.status_code == 409
    assert set(response.json) <= {"error", "case_id", "case_url"}
    assert api("owner_counselor").get(f"/api/students/{world.records['student'].id}") \
        .status_code == 403


def test_a_student_whose_cases_are_closed_gets_a_new_one(api, ctx, world):
    with ctx() as db:
        db.get(Case, world.records["team_case"].id).state = "closed"
        db.commit()
    assert open_for(api("counselor"), world.records["student"].id).status_code == 201


def test_reopening_a_closed_case_is_refused_while_the_student_has_another_open(api, ctx,
                                                                              world):
    student_id = new_student(ctx, world)
    first = open_for(api("counselor"), student_id).json
    with ctx() as db:
        db.get(Case, first["id"]).state = "closed"
        db.commit()
    second = open_for(api("counselor"), student_id).json
    version = api("counselor").get(f"/api/cases/{first['id']}").json["version"]
    response = api("counselor").post(f"/api/cases/{first['id']}/events/reopen",
                                     {"version": version, "data": {"reason": "复发"}})
    assert response.status_code == 409 and response.json["case_id"] == second["id"]


def test_opening_a_case_is_audited_on_the_student(api, ctx, world):
    student_id = new_student(ctx, world)
    case = open_for(api("counselor"), student_id).json
    with ctx() as db:
        [entry] = db.scalars(select(AuditEntry).where(AuditEntry.object_type == "student",
                                                      AuditEntry.object_id == str(student_id)))
    assert entry.action == "student.open_case" and entry.actor_name == "t_counselor"
    assert entry.changes == {"case_id": {"new": case["id"]}}


def test_in_the_browser_a_second_case_is_refused_with_a_link_to_the_open_one(client, world):
    login(client, "t_counselor", PASSWORD)
    page = client.get("/console/counselor").get_data(as_text=True)
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
    response = client.post("/cases", data={
        "csrf_token": token, "source": "parent", "risk_level": "high",
        "student_id": str(world.records["student"].id)}, follow_redirects=True)
    assert f"/cases/{world.records['team_case'].id}" in response.get_data(as_text=True)


# -- never close a case one owned -------------------------------------------------------------

def test_a_supervisor_who_owned_a_case_and_gave_it_away_cannot_close_it(api, ctx, world):
    case = world.records["owned_case"]
    supervisor, counselor = world.users["supervisor"], world.users["counselor"]
    with ctx() as db:
        db.get(Case, case.id).state = "follow_up"
        db.commit()
    sup = api("supervisor")
    version = sup.get(f"/api/cases/{case.id}").json["version"]
    taken = sup.post(f"/api/cases/{case.id}/assign", {"owner_id": supervisor.id,
                                                      "version": version}).json
    given = sup.post(f"/api/cases/{case.id}/assign", {"owner_id": counselor.id,
                                                      "version": taken["version"]}).json
    assert given["owner_id"] == counselor.id
    assert "close" not in given["allowed_events"]
    response = sup.post(f"/api/cases/{case.id}/events/close",
                        {"version": given["version"], "data": {}})
    assert response.status_code == 403
    # a supervisor who never owned it may
    with ctx() as db:
        from crisisline.accounts.models import Membership, Role, User
        from crisisline.accounts.services import hash_password
        db.add(User(username="t_second_supervisor", display_name="s2", role=Role.SUPERVISOR,
                    password_hash=hash_password(PASSWORD),
                    memberships=[Membership(organisation_id=world.orgs["A"].id)]))
        db.commit()
    assert "close" in api("second_supervisor").get(f"/api/cases/{case.id}").json[
        "allowed_events"]


def test_the_owners_a_case_ever_had_are_kept_on_it(api, ctx, world):
    case = world.records["team_case"]
    sup = api("supervisor")
    version = case.version
    for owner in ("owner_counselor", "counselor"):
        version = sup.post(f"/api/cases/{case.id}/assign", {
            "owner_id": world.users[owner].id, "version": version}).json["version"]
    with ctx() as db:
        kept = db.get(Case, case.id).past_owner_ids
    assert sorted(kept) == sorted([world.users["owner_counselor"].id,
                                   world.users["counselor"].id])
