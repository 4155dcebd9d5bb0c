"""The demo district: ``crisisline seed-demo``. Safe to run again: it only adds what is
missing, and sets every demo user's password to the one given."""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from casework.models import Case, Guardian, ReportKind, RiskLevel, SchoolReport, Student
from crisisline import audit
from crisisline.accounts.models import (HospitalKind, Organisation, OrgKind, SchoolUnit, Team,
                                        TeamMember, UnitKind, User)
from crisisline.accounts.services import create_user, set_password
from crisisline.database import db, utcnow
from crisisline.config import DEMO_HOTLINE
from hotline.models import Channel, Contact

CENTRE, MIDDLE_SCHOOL, COLLEGE = "HOTLINE-CENTRE", "SCH-NO1", "COL-NORMAL"
PSYCHIATRIC_DEPARTMENT, MENTAL_HEALTH_CENTRE = "HOSP-PEOPLE1", "HOSP-MHC"
ON_DUTY_TEAM = "值班组"

ORGANISATIONS = [
    (CENTRE, "省学生心理危机干预热线中心", OrgKind.HOTLINE_CENTRE, None),
    (MIDDLE_SCHOOL, "市第一中学", OrgKind.SCHOOL, None),
    (COLLEGE, "师范学院", OrgKind.SCHOOL, None),
    (PSYCHIATRIC_DEPARTMENT, "市第一人民医院精神科", OrgKind.HOSPITAL,
     HospitalKind.GRADE_2A_PSYCHIATRIC_DEPARTMENT),
    (MENTAL_HEALTH_CENTRE, "市精神卫生中心", OrgKind.HOSPITAL, HospitalKind.SPECIALIST_PSYCHIATRIC),
]

# (username, role, display name, organisation codes, phone the hotline dials them on)
DEMO_USERS = [
    ("demo_volunteer", "volunteer", "李晓雨（志愿者）", [CENTRE], "+8613800000001"),
    ("demo_volunteer2", "volunteer", "王浩（志愿者）", [CENTRE], "+8613800000002"),
    ("demo_volunteer3", "volunteer", "陈静（志愿者）", [CENTRE], "+8613800000003"),
    ("demo_volunteer4", "volunteer", "周宁（志愿者）", [CENTRE], "+8613800000004"),
    ("demo_counselor", "counselor", "张敏（值班咨询师）", [CENTRE], "+8613800000005"),
    ("demo_supervisor", "supervisor", "刘建国（督导）", [CENTRE], "+8613800000006"),
    ("demo_liaison", "hospital_liaison", "赵医生（医院联络员）", [PSYCHIATRIC_DEPARTMENT], None),
    ("demo_reporter", "reporter", "孙老师（班主任）", [MIDDLE_SCHOOL], None),
    ("demo_admin", "admin", "系统管理员", [CENTRE], None),
]

SCHOOL_STRUCTURE = {
    MIDDLE_SCHOOL: (UnitKind.GRADE, ["初一", "初二", "初三"], ["1班", "2班"],
                    ["1号楼 101", "1号楼 102", "2号楼 201"]),
    COLLEGE: (UnitKind.DEPARTMENT, ["心理学院", "计算机学院"], ["2024级1班", "2024级2班"],
              ["桃李苑 3-204", "桃李苑 3-205", "杏林苑 1-101"]),
}

# (school, student number, name, birth date, guardian, relation, guardian phone)
STUDENTS = [
    (MIDDLE_SCHOOL, "2023010101", "王小明", date(2011, 3, 14), "王建华", "父亲", "+8613800000101"),
    (MIDDLE_SCHOOL, "2023010102", "李思雨", date(2011, 7, 2), "李红", "母亲", "+8613800000102"),
    (MIDDLE_SCHOOL, "2022010201", "赵子涵", date(2010, 1, 20), "赵强", "父亲", "+8613800000103"),
    (MIDDLE_SCHOOL, "2021010301", "陈一凡", date(2009, 11, 5), "陈梅", "母亲", "+8613800000104"),
    (COLLEGE, "24030101", "刘佳怡", date(2006, 5, 18), "刘军", "父亲", "+8613800000105"),
    (COLLEGE, "24030102", "黄俊杰", date(2006, 9, 9), "黄丽", "母亲", "+8613800000106"),
    (COLLEGE, "24050201", "吴欣然", date(2005, 12, 30), "吴斌", "父亲", "+8613800000107"),
    (COLLEGE, "24050202", "孙浩宇", date(2006, 2, 11), "孙芳", "母亲", "+8613800000108"),
    (MIDDLE_SCHOOL, "2022010202", "周雨桐", date(2010, 4, 8), "周伟", "父亲", "+8613800000109"),
    (MIDDLE_SCHOOL, "2021010302", "郑晓东", date(2009, 8, 21), "郑敏", "母亲", "+8613800000110"),
    (COLLEGE, "24030103", "马文博", date(2006, 3, 3), "马丽", "母亲", "+8613800000111"),
    (COLLEGE, "24050203", "林可欣", date(2005, 10, 16), "林涛", "父亲", "+8613800000112"),
]


def seed_demo(password: str) -> None:
    """Add the demo district; the caller commits."""
    orgs = {code: _organisation(code, name, kind, hospital_kind)
            for code, name, kind, hospital_kind in ORGANISATIONS}
    for org in orgs.values():
        if org.kind != OrgKind.HOTLINE_CENTRE:
            org.centre_id = orgs[CENTRE].id
    for code, structure in SCHOOL_STRUCTURE.items():
        _school_units(orgs[code], *structure)
    if not orgs[CENTRE].hotline_number:  # (setting it again would replace its row)
        orgs[CENTRE].hotline_number = DEMO_HOTLINE
    users = {username: _user(username, role, name, codes, password, phone)
             for username, role, name, codes, phone in DEMO_USERS}
    team = _team(orgs[CENTRE], ON_DUTY_TEAM, [users["demo_counselor"]])
    students = [_student(orgs[row[0]], *row[1:]) for row in STUDENTS]
    db.flush()
    if db.scalar(select(func.count(Case.id)).where(Case.centre_id == orgs[CENTRE].id)) == 0:
        _sample_records(orgs, users, team, students)
        audit.record("demo.seed", orgs[CENTRE])


def _organisation(code, name, kind, hospital_kind) -> Organisation:
    org = Organisation.by_code(code)
    if org is None:
        org = Organisation(code=code, name=name, kind=kind, hospital_kind=hospital_kind)
        db.add(org)
        db.flush()
        audit.record("organisation.create", org, changes=audit.diff(org))
    return org


def _school_units(school, top_kind, tops, classes, dormitories) -> None:
    if db.scalar(select(func.count(SchoolUnit.id)).where(SchoolUnit.school_id == school.id)):
        return
    for top_name in tops:
        top = SchoolUnit(school=school, kind=top_kind, name=top_name)
        db.add(top)
        db.add_all(SchoolUnit(school=school, kind=UnitKind.CLASS, name=name, parent=top)
                   for name in classes)
    db.add_all(SchoolUnit(school=school, kind=UnitKind.DORMITORY, name=name)
               for name in dormitories)


# a school reporter's identity and unit (a reporter who cannot report is not created)
REPORTER_PLACES = {"demo_reporter": ("head_teacher", "初一/1班")}


def _user(username, role, display_name, codes, password, phone) -> User:
    user = User.by_username(username)
    if user is None:
        identity, unit = REPORTER_PLACES.get(username, ("", ""))
        user = create_user(username, role, password, display_name=display_name,
                           organisation_codes=codes, identity=identity, unit=unit)
        user.phone = phone
        return user
    set_password(user, password)
    return user


def _team(centre, name, members) -> Team:
    team = db.scalar(select(Team).where(Team.centre_id == centre.id, Team.name == name))
    if team is None:
        team = Team(centre_id=centre.id, name=name)
        db.add(team)
        db.flush()
    for member in members:
        if db.get(TeamMember, (team.id, member.id)) is None:
            db.add(TeamMember(team_id=team.id, user_id=member.id))
    return team


def _student(school, number, name, birth_date, guardian, relation, phone) -> Student:
    student = db.scalar(select(Student).where(Student.school_id == school.id,
                                              Student.student_number == number))
    if student is None:
        units = db.scalars(select(SchoolUnit).where(SchoolUnit.school_id == school.id)).all()
        class_unit = next(u for u in units if u.kind == UnitKind.CLASS)
        dormitory = next(u for u in units if u.kind == UnitKind.DORMITORY)
        student = Student(school=school, student_number=number, name=name,
                          birth_date=birth_date, class_unit_id=class_unit.id,
                          dormitory_unit_id=dormitory.id,
                          guardians=[Guardian(name=guardian, relation=relation, phone=phone)])
        db.add(student)
    return student


PDF = b"%PDF-1.4\n% demo document\n%%EOF\n"

# each demo case: (student index, source, risk, summary, the steps it has been through);
# a student has one open case at a time (一生一案), and may have closed ones
DEMO_CASES = [
    (4, "hotline_contact", "high", "来电称已写好遗书，计划周末行动。", []),
    (0, "school_report", "moderate", "班主任报告：近两周情绪低落，作文中提到“消失”。", []),
    (1, "hotline_contact", "imminent", "学生来电称站在宿舍楼顶。", ["dispatch"]),
    (2, "school_report", "high", "宿管报告：学生割腕，伤口已包扎。",
     ["dispatch", "contact_guardian"]),
    (5, "hotline_contact", "high", "吞服安眠药，已送急诊。",
     ["dispatch", "contact_guardian", "refer_to_hospital"]),
    (6, "parent", "moderate", "上学期跟踪稳定，已结案。",
     ["triage_support", "follow_up", "follow_up", "close"]),
    (6, "parent", "high", "家长发现遗书。",
     ["dispatch", "contact_guardian", "refer_to_hospital", "confirm_arrival"]),
    (7, "screening", "high", "普测高危，复评有明确计划。",
     ["dispatch", "contact_guardian", "refer_to_hospital", "confirm_arrival", "start_leave"]),
    (3, "hospital", "high", "住院治疗结束，申请复学。",
     ["dispatch", "contact_guardian", "refer_to_hospital", "confirm_arrival", "start_leave",
      "apply_return"]),
    (8, "screening", "low", "考试焦虑，睡眠差。", ["triage_support"]),
    (9, "school_report", "high", "自伤风险，家长拒绝住院。",
     ["dispatch", "contact_guardian", "home_supervision"]),
    (10, "hotline_contact", "high", "复学后跟踪中。",
     ["dispatch", "contact_guardian", "refer_to_hospital", "confirm_arrival", "start_leave",
      "apply_return", "approve_return", "follow_up", "follow_up"]),
    (11, "hospital", "high", "休学期满未申请复学。",
     ["dispatch", "contact_guardian", "refer_to_hospital", "confirm_arrival", "start_leave",
      "withdraw"]),
]


def _sample_records(orgs, users, team, students) -> None:
    now = utcnow()
    centre = orgs[CENTRE]
    counselor = users["demo_counselor"]
    cases = [_demo_case(orgs, users, students[index], source, risk, summary, steps)
             for index, source, risk, summary, steps in DEMO_CASES]
    db.add_all([
        Contact(centre_id=centre.id, channel=Channel.VOICE, caller_number="+8613900000001",
                handled_by_id=users["demo_volunteer"].id, case_id=cases[0].id,
                answered_by_id=users["demo_volunteer"].id,
                risk_level=RiskLevel.HIGH, summary="C-SSRS 筛查为高风险，已升级。",
                created_at=now - timedelta(hours=3)),
        Contact(centre_id=centre.id, channel=Channel.SMS, caller_number="+8613900000002",
                handled_by_id=users["demo_volunteer"].id, risk_level=RiskLevel.LOW,
                answered_by_id=users["demo_volunteer"].id,
                summary="期末压力大，已提供减压建议。", created_at=now - timedelta(hours=1)),
        Contact(centre_id=centre.id, channel=Channel.WEB_CHAT,
                handled_by_id=users["demo_volunteer2"].id, risk_level=RiskLevel.MODERATE,
                answered_by_id=users["demo_volunteer2"].id,
                summary="网聊：最近觉得活着没意思，无具体计划。"),
        SchoolReport(school_id=orgs[MIDDLE_SCHOOL].id, student=students[0],
                     reported_by_id=users["demo_reporter"].id, kind=ReportKind.AT_RISK,
                     report_date=now.date(), note="作文中多次出现消极内容。"),
        SchoolReport(school_id=orgs[MIDDLE_SCHOOL].id, student=students[0],
                     reported_by_id=users["demo_reporter"].id, kind=ReportKind.ZERO,
                     report_date=now.date()),
    ])
    cases[1].owner_id, cases[1].team_id = None, team.id  # waiting for the on-duty team
    cases[1].reported_by_id = users["demo_reporter"].id
    _dispatched_long_ago(cases[2], minutes=45)
    assert counselor.id == cases[0].owner_id


def _dispatched_long_ago(case: Case, minutes: int) -> None:
    """The responder has not arrived 45 minutes after dispatch: the demo's worker fires the
    overdue deadline on its first poll, so a newcomer sees an alert arrive."""
    from casework.models import CaseHistory, Deadline
    db.flush()
    earlier = timedelta(minutes=minutes)
    for row in db.scalars(select(CaseHistory).where(CaseHistory.case_id == case.id)):
        row.occurred_at -= earlier
    for deadline in db.scalars(select(Deadline).where(Deadline.case_id == case.id)):
        deadline.due_at -= earlier
        deadline.created_at -= earlier


def _demo_case(orgs, users, student, source, risk, summary, steps) -> Case:
    from casework import services
    counselor, supervisor = users["demo_counselor"], users["demo_supervisor"]
    case = services.open_case(counselor, source=source, risk_level=risk, summary=summary,
                              student_id=student.id)
    db.flush()
    now = utcnow()
    hospital = orgs[PSYCHIATRIC_DEPARTMENT]

    def document(kind, issued_by=None):
        attached = services.attach_document(counselor, case.id, kind=kind,
                                            filename=f"{kind}.pdf", content=PDF,
                                            content_type="application/pdf",
                                            issued_by_hospital_id=issued_by)
        db.flush()
        return attached.id

    for step in steps:
        db.flush()
        if step == "follow_up":
            services.record_follow_up(counselor, case.id, kind="phone",
                                      outcome="情绪平稳，按时服药。",
                                      occurred_at=utcnow() - timedelta(hours=1))
            continue
        data = {
            "triage_support": lambda: {"risk_level": "low" if risk == "low" else "moderate",
                                       "support_plan": "每周一次心理疏导，班主任每日关注。",
                                       "plan_owner_id": counselor.id},
            "dispatch": lambda: {"risk_level": "high", "responder": "值班辅导员 周老师",
                                 "emergency_services": ["120"]},
            "contact_guardian": lambda: {"arrived_at": now.isoformat(), "watcher": "宿管 李阿姨"},
            "refer_to_hospital": lambda: {"hospital_id": hospital.id,
                                          "legal_basis": "guardian_consent"},
            "confirm_arrival": lambda: {"arrived_at": now.isoformat()},
            "start_leave": lambda: {"kind": "suspension", "reason": "inpatient",
                                    "expected_end": (now + timedelta(days=60)).date().isoformat()},
            "apply_return": lambda: {
                "certificate_document_id": document("recovery_certificate", hospital.id),
                "application_document_id": document("return_application")},
            "approve_return": lambda: {"note": "康复证明齐全，同意复学。"},
            "home_supervision": lambda: {
                "danger_to_others": False, "guardian_refused_admission": True,
                "acknowledgement_document_id": document("guardian_acknowledgement")},
            "withdraw": lambda: {"reason": "leave_expired"},
            "close": lambda: {"note": "跟踪稳定，结案。"},
        }[step]()
        actor = {"confirm_arrival": users["demo_liaison"], "approve_return": supervisor,
                 "withdraw": supervisor, "close": supervisor}.get(step, counselor)
        services.fire_event(actor, case.id, step, data, case.version)
    return case
