"""The four-level network decides what a reporter sees: a dormitory officer's report on a
student reaches the student's class committee member, head teacher and 辅导员 and the
school's psychology centre, and nobody in another class; the department and the
psychology centre hold each follow-up record of their students, the class does not."""
from __future__ import annotations

from casework import services as casework
from crisisline.database import utcnow
from tests.schoolnet.conftest import NETWORK
from tests.world import close_open_case

def who_sees(api, path: str) -> set[str]:
    return {name for name in NETWORK if api(name).get(path).status_code == 200}


def test_a_dormitory_officers_report_reaches_the_students_class_and_department(
        api, network):
    report = api("r_dorm").post("/api/school-reports", {
        "student_id": network.student_c1, "kind": "at_risk", "note": "夜里在宿舍哭，说不想活"})
    assert report.status_code == 201
    assert who_sees(api, f"/api/school-reports/{report.json['id']}") == {
        "r_dorm", "c1_committee", "c1_head", "d_counsellor", "d_head", "centre"}


def test_a_report_in_another_class_stays_there_and_with_the_levels_above(api, network):
    report = api("c2_committee").post("/api/school-reports", {
        "student_id": network.student_c2, "kind": "at_risk", "note": "连续三天没来上课"})
    assert who_sees(api, f"/api/school-reports/{report.json['id']}") == {
        "c2_committee", "d_counsellor", "d_head", "centre"}
    listed = [r["id"] for r in api("c1_committee").get("/api/school-reports").json]
    assert report.json["id"] not in listed
    assert report.json["id"] in [r["id"] for r in api("d_head").get("/api/school-reports").json]


def test_a_dormitory_officer_sees_only_their_own_reports(api, network):
    theirs = api("c1_committee").post("/api/school-reports", {
        "student_id": network.student_c1, "kind": "at_risk", "note": "情绪低落"}).json
    assert api("r_dorm").get(f"/api/school-reports/{theirs['id']}").status_code in (403, 404)
    assert api("r_dorm").get("/api/school-reports").json == []


def test_the_department_and_psychology_centre_hold_each_follow_up_record(
        api, ctx, world, network):
    counselor = world.users["counselor"]
    with ctx() as db:
        case = casework.open_case(counselor, source="school_report", risk_level="high",
                                  student_id=close_open_case(world))
        db.flush()
        case.state = "follow_up"
        casework.record_follow_up(counselor, case.id, kind="interview",
                                  outcome="情绪较前平稳，睡眠改善", occurred_at=utcnow())
        db.commit()
    holders = {name for name in NETWORK
               if any(record["outcome"] == "情绪较前平稳，睡眠改善"
                      for record in api(name).get("/api/school-follow-ups").json)}
    assert holders == {"d_counsellor", "d_head", "centre"}
    assert api("reporter").get("/api/school-follow-ups").json == []  # no place in the network


def test_reports_follow_a_student_who_moves_school(api, ctx, world, network):
    from casework.models import Student
    report = api("r_dorm").post("/api/school-reports", {
        "student_id": network.student_c1, "kind": "at_risk", "note": "夜里在宿舍哭"}).json
    with ctx() as db:
        moved = db.get(Student, network.student_c1)
        moved.school_id, moved.class_unit_id, moved.dormitory_unit_id = \
            world.orgs["SB"].id, None, None
        db.commit()
    for name in ("c1_committee", "d_head", "centre"):  # no longer listed, nor readable
        assert report["id"] not in [r["id"] for r in api(name).get("/api/school-reports").json]
        assert api(name).get(f"/api/school-reports/{report['id']}").status_code in (403, 404)
    assert api("r_dorm").get(f"/api/school-reports/{report['id']}").status_code == 200  # theirs
