"""Students and their guardians: kept by hand, found and read within the access rules,
moved between schools with one file (一生一案), and shown by name on every case screen."""
from __future__ import annotations

import re
from datetime import date

from sqlalchemy import func, select

from casework.models import Case, CaseHistory, Guardian, Referral, SpecialGroup, Student
from crisisline.accounts.models import OrgKind, Organisation, SchoolUnit, UnitKind, User
from crisisline.audit.models import AuditEntry
from hotline.models import Channel, Contact, ContactStatus
from schoolnet.models import SchoolReport
from tests.conftest import login
from tests.world import PASSWORD


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)


def entries(ctx, action: str, object_id=None) -> list[AuditEntry]:
    with ctx() as db:
        query = select(AuditEntry).where(AuditEntry.action == action)
        if object_id is not None:
            query = query.where(AuditEntry.object_id == str(object_id))
        return db.scalars(query).all()


def with_guardian(ctx, world, phone="+8613912345678") -> int:
    with ctx() as db:
        db.add(Guardian(student_id=world.records["student"].id, name="张妈妈", relation="母亲",
                        phone=phone))
        db.commit()
    return world.records["student"].id


def units(ctx, world, school="S") -> dict[str, int]:
    """A grade with a class, and a building with a room, at ``school``."""
    with ctx() as db:
        school_id = world.orgs[school].id
        grade = SchoolUnit(school_id=school_id, kind=UnitKind.GRADE, name="七年级")
        building = SchoolUnit(school_id=school_id, kind=UnitKind.BUILDING, name="3号楼")
        db.add_all([grade, building])
        db.flush()
        klass = SchoolUnit(school_id=school_id, kind=UnitKind.CLASS, name="1班", parent=grade)
        room = SchoolUnit(school_id=school_id, kind=UnitKind.DORMITORY, name="201",
                          parent=building)
        db.add_all([klass, room])
        db.commit()
        return {"class": klass.id, "dormitory": room.id, "grade": grade.id}


NEW = {"student_number": "2026001", "name": "李小明", "gender": "male",
       "birth_date": "2012-03-04",
       "guardians": [{"name": "李爸爸", "relation": "父亲", "phone": "139 1234 5678"}],
       "special_groups": ["left_behind", "low_income"]}


def form_part(page) -> str:
    """The reporter's page above their list of reports: what they can pick from."""
    return page.get_data(as_text=True).split('id="mine-heading"')[0]


# -- finding and reading -------------------------------------------------------------------

def test_a_counselor_finds_the_student_of_their_case_by_name_number_or_guardian_phone(
        api, ctx, world):
    student_id = with_guardian(ctx, world)
    counselor = api("counselor")
    for q in ("学生甲", "t_S1", "13912345678", "1234 5678", "+86 139 1234 5678"):
        found = counselor.get("/api/students", q=q)
        assert found.status_code == 200, q
        assert [item["id"] for item in found.json["items"]] == [student_id], q
    assert counselor.get("/api/students", q="学生乙").json["items"] == []  # another centre's
    assert entries(ctx, "student.search")  # who was shown is audited


def test_a_counselor_reads_the_file_with_one_timeline_each_read_audited(api, ctx, world):
    student_id = with_guardian(ctx, world)
    team_case, report = world.records["team_case"], world.records["report"]
    response = api("counselor").get(f"/api/students/{student_id}")
    assert response.status_code == 200
    body = response.json
    assert body["name"] == "学生甲" and body["school"]["name"] == "S"
    assert body["guardians"] == [{"name": "张妈妈", "relation": "母亲", "phone": "+8613912345678"}]
    shown = {(entry["kind"], entry["id"]) for entry in body["timeline"] if entry["shown"]}
    assert ("case", team_case.id) in shown and ("school_report", report.id) in shown
    assert entries(ctx, "student.read", student_id)
    assert entries(ctx, "case.read", team_case.id)[-1].changes == {"part": "student_file"}
    assert entries(ctx, "school_report.read", report.id)


def test_a_volunteer_with_no_relationship_sees_nothing_of_a_student(api, client, ctx, world):
    student_id = with_guardian(ctx, world)
    volunteer = api("volunteer")
    assert volunteer.get("/api/students", q="学生甲").json == {
        "items": [], "page": 1, "per_page": 20, "total": 0}
    assert volunteer.get("/api/students").json["total"] == 0
    assert volunteer.get(f"/api/students/{student_id}").status_code == 403
    assert volunteer.get("/api/students/pick", q="学生甲").json["items"] == []  # no contact
    login(client, "t_volunteer", PASSWORD)
    page = client.get("/students", query_string={"q": "学生甲"}).get_data(as_text=True)
    assert f'href="/students/{student_id}"' not in page and "没有找到" in page
    assert client.get(f"/students/{student_id}").status_code == 403
    refused = entries(ctx, "access.denied", student_id)
    assert refused and refused[-1].object_type == "student"


def test_a_counselor_finds_a_student_of_the_centre_without_a_case_and_may_break_the_glass(
        client, ctx, world):
    from casework.models import Student
    with ctx() as db:
        other = Student(school_id=world.orgs["S"].id, student_number="X-OTHER", name="学生丙")
        db.add(other)
        db.commit()
        other_id = other.id
    login(client, "t_counselor", PASSWORD)
    page = client.get("/students", query_string={"q": "学生丙"}).get_data(as_text=True)
    assert "本中心所服务学校的其他学生" in page and "学生丙" in page
    assert f'href="/break-glass/student/{other_id}"' in page
    assert f'href="/students/{other_id}"' not in page  # the file itself stays shut
    volunteer = client.application.test_client()
    login(volunteer, "t_volunteer", PASSWORD)
    page = volunteer.get("/students", query_string={"q": "学生丙"}).get_data(as_text=True)
    assert "本中心所服务学校的其他学生" not in page and "/break-glass/student/" not in page


def test_the_search_is_paginated(api, ctx, world):
    with ctx() as db:
        db.add_all(Student(school_id=world.orgs["S"].id, student_number=f"P{n:02}",
                           name=f"分页{n:02}") for n in range(25))
        db.commit()
    supervisor = api("supervisor")
    first = supervisor.get("/api/students", q="分页", per_page=10).json
    third = supervisor.get("/api/students", q="分页", per_page=10, page=3).json
    assert first["total"] == 25 and len(first["items"]) == 10 and len(third["items"]) == 5
    assert first["items"][0]["name"] == "分页00" and third["items"][-1]["name"] == "分页24"
    assert supervisor.get("/api/students", per_page=1000).status_code == 422


def test_the_students_page_and_file_page_show_the_people_and_tap_to_call(client, ctx, world):
    student_id = with_guardian(ctx, world)
    login(client, "t_counselor", PASSWORD)
    listing = client.get("/students", query_string={"q": "3912"}).get_data(as_text=True)
    assert f'href="/students/{student_id}"' in listing and "学生甲" in listing
    page = client.get(f"/students/{student_id}").get_data(as_text=True)
    assert 'href="tel:+8613912345678"' in page and "张妈妈" in page and "母亲" in page
    assert "时间线" in page and f'href="/cases/{world.records["team_case"].id}"' in page


def test_a_case_of_the_centre_outside_ones_scope_shows_only_a_way_to_break_the_glass(
        api, ctx, world):
    with ctx() as db:  # an earlier, closed case of the student, owned by someone else
        old = Case(centre_id=world.orgs["A"].id, student_id=world.records["student"].id,
                   source="parent", risk_level="low", state="closed",
                   owner_id=world.users["owner_counselor"].id)
        db.add(old)
        db.commit()
    timeline = api("counselor").get(f"/api/students/{world.records['student'].id}").json[
        "timeline"]
    hidden = [entry for entry in timeline if entry["kind"] == "case" and not entry["shown"]]
    assert [entry["id"] for entry in hidden] == [old.id] and hidden[0]["details"] == {}
    assert not entries(ctx, "case.read", old.id)  # not read: nothing of it was shown


# -- keeping the file ---------------------------------------------------------------------

def test_an_admin_creates_a_student_with_guardians_and_special_groups(api, ctx, world):
    response = api("admin").post("/api/students", {**NEW, "school_id": world.orgs["S"].id})
    assert response.status_code == 201, response.json
    body = response.json
    assert body["guardians"] == [{"name": "李爸爸", "relation": "父亲", "phone": "+8613912345678"}]
    assert body["special_groups"] == ["left_behind", "low_income"] and body["gender"] == "male"
    with ctx() as db:
        student = db.get(Student, body["id"])
        assert student.special_groups == [SpecialGroup.LEFT_BEHIND, SpecialGroup.LOW_INCOME]
    created = entries(ctx, "student.create", body["id"])
    assert created and created[0].changes["guardians"] == {"changed": True}
    assert created[0].changes["name"] == {"changed": True}  # sensitive: no value kept


def test_bad_input_names_every_field_in_chinese_and_writes_nothing(api, ctx, world):
    other_school_class = units(ctx, world, "SB")["class"]
    response = api("admin").post("/api/students", {
        "school_id": world.orgs["S"].id, "student_number": "t_S1",  # taken at S
        "name": "王五", "gender": "other", "birth_date": "2090-01-01",
        "class_unit_id": other_school_class, "special_groups": ["rich"],
        "guardians": [{"name": "王爸爸", "relation": "父亲", "phone": "12345"},
                      {"name": "", "relation": "母亲", "phone": "13800138000"}]})
    assert response.status_code == 422
    fields = response.json["fields"]
    assert set(fields) == {"student_number", "gender", "birth_date", "class_unit_id",
                           "special_groups", "guardian1_phone", "guardian2_name"}
    assert all(re.search(r"[\u4e00-\u9fff]", problem) for problem in fields.values())
    with ctx() as db:
        assert db.scalar(select(func.count(Student.id)).where(Student.name == "王五")) == 0


def test_a_supervisor_keeps_only_the_students_of_schools_their_centre_serves(api, ctx, world):
    school_a, school_b = world.orgs["S"].id, world.orgs["SB"].id
    assert api("supervisor").post("/api/students", {**NEW, "school_id": school_a}) \
        .status_code == 201
    refused = api("supervisor").post("/api/students", {**NEW, "school_id": school_b})
    assert refused.status_code == 403
    assert api("counselor").post("/api/students", {**NEW, "school_id": school_a}) \
        .status_code == 403  # counselors keep the students of their cases, create nobody
    with ctx() as db:
        assert db.scalar(select(func.count(Student.id)).where(
            Student.school_id == school_b, Student.name == "李小明")) == 0


def test_the_counselor_of_the_case_corrects_a_guardian_phone(api, ctx, world):
    student_id = with_guardian(ctx, world)
    response = api("counselor").client.patch(
        f"/api/students/{student_id}", headers=api("counselor").headers,
        json={"guardians": [{"name": "张妈妈", "relation": "母亲", "phone": "13700001111"}]})
    assert response.status_code == 200
    assert response.json["guardians"][0]["phone"] == "+8613700001111"
    assert entries(ctx, "student.update", student_id)[-1].changes == {
        "guardians": {"changed": True}}
    same = api("counselor").client.patch(  # the same again: nothing changes, nothing audited
        f"/api/students/{student_id}", headers=api("counselor").headers,
        json={"guardians": [{"name": "张妈妈", "relation": "母亲", "phone": "+8613700001111"}]})
    assert same.status_code == 200 and len(entries(ctx, "student.update", student_id)) == 1
    assert api("owner_counselor").client.patch(  # not their case: unknown to them
        f"/api/students/{student_id}", headers=api("owner_counselor").headers,
        json={"name": "改名"}).status_code == 404


def test_an_admin_creates_and_edits_a_student_from_the_pages(client, ctx, world):
    ids = units(ctx, world)
    login(client, "t_admin", PASSWORD)
    form = client.get("/students/new").get_data(as_text=True)
    assert "七年级/1班" in form and "3号楼/201" in form and "留守儿童" in form
    response = client.post("/students/new", data={
        "csrf_token": csrf(form), "school_id": world.orgs["S"].id, "name": "赵六",
        "student_number": "2026009", "gender": "female", "birth_date": "2011-09-01",
        "class_unit_id": ids["class"], "dormitory_unit_id": ids["dormitory"],
        "special_groups": ["migrant"], "guardian1_name": "赵妈妈",
        "guardian1_relation": "母亲", "guardian1_phone": "13600001111"})
    assert response.status_code == 302
    student_id = int(response.headers["Location"].rsplit("/", 1)[1])
    page = client.get(f"/students/{student_id}").get_data(as_text=True)
    assert "七年级/1班" in page and "3号楼/201" in page and "流动儿童" in page and "女" in page
    edit = client.get(f"/students/{student_id}/edit").get_data(as_text=True)
    refused = client.post(f"/students/{student_id}/edit", data={
        "csrf_token": csrf(edit), "name": "赵六", "student_number": "2026009",
        "guardian1_name": "赵妈妈", "guardian1_relation": "母亲", "guardian1_phone": "0000"})
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert "监护人1电话" in text and 'value="0000"' in text  # named, and kept as typed


# -- moving school: one file follows the student ---------------------------------------------

def test_a_student_who_moves_school_keeps_one_file_and_the_old_school_loses_access(
        api, client, ctx, world):
    student_id = world.records["student"].id
    team_case = world.records["team_case"].id
    with ctx() as db:  # the student's head teacher at the old school reported them
        db.add(SchoolReport(school_id=world.orgs["S"].id, student_id=student_id,
                            reported_by_id=world.users["reporter"].id, kind="daily",
                            report_date=date(2026, 11, 3)))
        db.commit()
    login(client, "t_reporter", PASSWORD)
    assert "学生甲" in form_part(client.get("/school"))
    moved = api("admin").post(f"/api/students/{student_id}/move", {
        "school_id": world.orgs["SB"].id, "student_number": "B-0001"})
    assert moved.status_code == 200
    assert moved.json["school"]["name"] == "SB" and moved.json["student_number"] == "B-0001"
    assert moved.json["timeline"] == []  # an admin keeps the profile, not the casework
    with ctx() as db:
        assert db.get(Case, team_case).student_id == student_id  # the case stays with them
    change = entries(ctx, "student.move", student_id)[-1].changes
    assert change["school_id"] == {"old": world.orgs["S"].id, "new": world.orgs["SB"].id}
    assert change["student_number"] == {"old": "t_S1", "new": "B-0001"}
    # the old school's reporter no longer finds or reports the student; centre B's staff do
    assert "学生甲" not in form_part(client.get("/school"))
    refused = api("reporter").post("/api/school-reports", {"student_number": "B-0001",
                                                           "kind": "zero"})
    assert refused.status_code == 422
    assert api("other_supervisor").get(f"/api/students/{student_id}").status_code == 200
    assert api("supervisor").get("/api/students", q="学生甲").json["items"] == []


def test_a_supervisor_moves_students_only_between_schools_of_their_centre(api, ctx, world):
    with ctx() as db:
        school = Organisation(code="T-S2", name="S2", kind=OrgKind.SCHOOL,
                              centre_id=world.orgs["A"].id)
        db.add(school)
        db.commit()
        s2 = school.id
    student_id = world.records["student"].id
    supervisor = api("supervisor")
    assert supervisor.post(f"/api/students/{student_id}/move", {
        "school_id": world.orgs["SB"].id, "student_number": "X1"}).status_code == 403
    assert api("counselor").post(f"/api/students/{student_id}/move", {
        "school_id": s2, "student_number": "X1"}).status_code == 403
    again = supervisor.post(f"/api/students/{student_id}/move", {
        "school_id": world.orgs["S"].id, "student_number": "X1"})
    assert again.status_code == 422 and "school_id" in again.json["fields"]
    assert supervisor.post(f"/api/students/{student_id}/move", {
        "school_id": s2, "student_number": "X1"}).status_code == 200


# -- pickers: by name, never by number ---------------------------------------------------------

def test_pickers_find_students_staff_and_hospitals_by_name(api, ctx, world):
    student_id = world.records["student"].id
    counselor = api("counselor")
    assert counselor.get("/api/students/pick", q="学").json["items"] == []  # too short
    picked = counselor.get("/api/students/pick", q="学生").json["items"]
    assert [item["id"] for item in picked] == [student_id]
    assert picked[0]["label"] == "学生甲 · S"
    assert entries(ctx, "student.pick")
    case_id = world.records["team_case"].id
    owners = counselor.get("/api/staff/pick", purpose="plan_owner", case=case_id,
                           q="counselor").json["items"]
    # centre B's outsider_counselor is not of this case's centre
    assert {item["label"] for item in owners} == {"counselor · 值班心理咨询师",
                                                  "owner_counselor · 值班心理咨询师"}
    escorts = counselor.get("/api/staff/pick", purpose="escort", case=case_id,
                            q="reporter").json["items"]
    assert {item["label"] for item in escorts} == {"reporter · 学校信息员",
                                                   "other_reporter · 学校信息员",
                                                   "psych_reporter · 学校信息员"}
    hospitals = counselor.get("/api/hospitals/pick", q="H", case=case_id).json["items"]
    assert {item["label"] for item in hospitals} == {"H1", "H2"}
    assert api("volunteer").get("/api/staff/pick", purpose="escort",
                                case=case_id).status_code in (403, 404)


def test_a_volunteer_escalates_a_contact_about_a_student_found_by_search(api, ctx, world):
    with ctx() as db:
        db.get(Case, world.records["team_case"].id).state = "closed"  # one open case each
        contact = Contact(centre_id=world.orgs["A"].id, channel=Channel.VOICE,
                          status=ContactStatus.ACTIVE, risk_level="high",
                          handled_by_id=world.users["volunteer"].id)
        unknown = Contact(centre_id=world.orgs["A"].id, channel=Channel.SMS,
                          status=ContactStatus.ACTIVE, risk_level="imminent",
                          handled_by_id=world.users["volunteer"].id)
        db.add_all([contact, unknown])
        db.commit()
    volunteer = api("volunteer")
    found = volunteer.get("/api/students/pick", q="学生甲", contact=contact.id).json["items"]
    assert [item["id"] for item in found] == [world.records["student"].id]
    case = volunteer.post(f"/api/contacts/{contact.id}/escalate",
                          {"summary": "来电学生", "student_id": found[0]["id"]})
    assert case.status_code == 201 and case.json["student_id"] == world.records["student"].id
    other = volunteer.post(f"/api/contacts/{unknown.id}/escalate",
                           {"student_id": world.records["student_b"].id})  # centre B's
    assert other.status_code == 422 and "student_id" in other.json["fields"]
    anonymous = volunteer.post(f"/api/contacts/{unknown.id}/escalate", {})
    assert anonymous.status_code == 201 and anonymous.json["student_id"] is None
    with ctx() as db:
        opened = db.scalars(select(CaseHistory).where(
            CaseHistory.case_id == anonymous.json["id"], CaseHistory.event == "open")).one()
        assert opened.data["student_not_identified"] is True


# -- the case page and the hospital ----------------------------------------------------------

def test_the_case_page_shows_the_student_guardians_owner_team_and_who_did_each_step(
        api, client, ctx, world):
    with_guardian(ctx, world)
    ids = units(ctx, world)
    case_id = world.records["team_case"].id
    with ctx() as db:
        db.get(Student, world.records["student"].id).class_unit_id = ids["class"]
        db.get(Case, case_id).owner_id = world.users["counselor"].id
        db.get(User, world.users["counselor"].id).phone = "+8613511112222"
        db.commit()
    counselor = api("counselor")
    assert counselor.post(f"/api/cases/{case_id}/events/dispatch", {"version": 2, "data": {
        "risk_level": "high", "responder": "王辅导员", "emergency_services": ["120"]}}) \
        .status_code == 200
    login(client, "t_counselor", PASSWORD)
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    for shown in ("学生甲", "S", "七年级/1班", "张妈妈", 'href="tel:+8613912345678"',
                  "on duty", "王辅导员", "派员到场"):
        assert shown in page, shown
    assert re.search(r"<td>counselor</td>", page)  # who dispatched, by name
    assert "(ID)" not in page and "用户编号" not in page and 'type="number"' not in page


def test_the_transfer_names_the_escort_and_the_liaison_sees_only_who_is_coming(
        api, client, ctx, world):
    case_id = world.records["team_case"].id
    with ctx() as db:
        case = db.get(Case, case_id)
        case.state, case.owner_id = "guardian_contact", world.users["counselor"].id
        db.get(User, world.users["counselor"].id).phone = "+8613511112222"
        db.get(Student, world.records["student"].id).birth_date = date(2011, 1, 1)
        db.commit()
        version = case.version
    response = api("counselor").post(f"/api/cases/{case_id}/events/refer_to_hospital", {
        "version": version, "data": {"hospital_id": world.orgs["H1"].id,
                                     "legal_basis": "guardian_consent",
                                     "escort_id": world.users["counselor"].id}})
    assert response.status_code == 200, response.json
    with ctx() as db:
        referral = db.scalars(select(Referral).where(Referral.case_id == case_id)
                              .order_by(Referral.id.desc())).first()
        assert referral.escort_id == world.users["counselor"].id
    view = api("liaison").get(f"/api/cases/{case_id}").json
    assert view["student"]["name"] == "学生甲" and view["student"]["school"] == "S"
    assert view["student"]["age"] >= 15 and view["escort"]["phone"] == "+8613511112222"
    assert "summary" not in view and "guardians" not in view and "student_id" not in view
    login(client, "t_liaison", PASSWORD)
    portal = client.get("/portal/hospital").get_data(as_text=True)
    assert "学生甲" in portal and 'href="tel:+8613511112222"' in portal
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "学生甲" in page and "+8613511112222" in page and "摘要" not in page
    assert api("liaison").get(f"/api/students/{world.records['student'].id}").status_code \
        == 403


def test_an_escort_from_elsewhere_is_refused(api, ctx, world):
    case_id = world.records["team_case"].id
    with ctx() as db:
        case = db.get(Case, case_id)
        case.state = "guardian_contact"
        db.commit()
        version = case.version
    response = api("counselor").post(f"/api/cases/{case_id}/events/refer_to_hospital", {
        "version": version, "data": {"hospital_id": world.orgs["H1"].id,
                                     "legal_basis": "guardian_consent",
                                     "escort_id": world.users["liaison"].id}})
    assert response.status_code == 422 and "escort_id" in response.json["fields"]
