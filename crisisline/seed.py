"""The demo district: ``crisisline seed-demo``. Safe to run again: it only adds what is
missing, and sets every demo user's password to the one given."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from casework.models import Case, RiskLevel, Student
from crisisline import audit
from crisisline.accounts.models import (Organisation, Team,
                                        TeamMember, User)
from crisisline.accounts.services import create_user, set_password
from crisisline.database import db, utcnow
from hotline.models import Channel, Contact
from schoolnet.models import ReportKind, SchoolReport

CENTRE, MIDDLE_SCHOOL, COLLEGE = "HOTLINE-CENTRE", "SCH-NO1", "COL-NORMAL"
PSYCHIATRIC_DEPARTMENT, MENTAL_HEALTH_CENTRE = "HOSP-PEOPLE1", "HOSP-MHC"
ON_DUTY_TEAM = "值班组"

# the files the demo district is imported from, in order (organisations before the people
# who belong to them); the same files a new centre is shown in the README
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "district"
DISTRICT_FILES = [("organisations", "organisations.csv"),
                  ("students", "students-SCH-NO1.csv"),
                  ("students", "students-COL-NORMAL.xlsx"),
                  ("users", "users.csv")]

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

# the students the demo cases are about: (school, student number), as in the example files
DEMO_STUDENTS = [
    (MIDDLE_SCHOOL, "2023010101"), (MIDDLE_SCHOOL, "2023010102"), (MIDDLE_SCHOOL, "2022010201"),
    (MIDDLE_SCHOOL, "2021010301"), (COLLEGE, "24030101"), (COLLEGE, "24030102"),
    (COLLEGE, "24050201"), (COLLEGE, "24050202"), (MIDDLE_SCHOOL, "2022010202"),
    (MIDDLE_SCHOOL, "2021010302"), (COLLEGE, "24030103"), (COLLEGE, "24050203"),
]


def seed_demo(password: str) -> None:
    """Add the demo district, imported from ``examples/district`` as a centre would import
    its own files; the caller commits. Every imported person and demo user signs in with
    ``password`` (the demo's, printed)."""
    _import(*DISTRICT_FILES[0])
    orgs = {code: Organisation.by_code(code) for code in
            (CENTRE, MIDDLE_SCHOOL, COLLEGE, PSYCHIATRIC_DEPARTMENT, MENTAL_HEALTH_CENTRE)}
    team = _team(orgs[CENTRE], ON_DUTY_TEAM)  # the users file puts people on it
    for kind, name in DISTRICT_FILES[1:]:
        _import(kind, name)
    users = {username: _user(username, role, name, codes, password, phone)
             for username, role, name, codes, phone in DEMO_USERS}
    for imported in db.scalars(select(User).where(User.must_change_password.is_(True))):
        imported.must_change_password = False  # the demo's password, not a temporary one
        set_password(imported, password)
    if db.get(TeamMember, (team.id, users["demo_counselor"].id)) is None:
        db.add(TeamMember(team_id=team.id, user_id=users["demo_counselor"].id))
    students = [db.scalar(select(Student).where(Student.school_id == orgs[school].id,
                                                Student.student_number == number))
                for school, number in DEMO_STUDENTS]
    db.flush()
    if db.scalar(select(func.count(Case.id)).where(Case.centre_id == orgs[CENTRE].id)) == 0:
        _sample_records(orgs, users, team, students)
        audit.record("demo.seed", orgs[CENTRE])


def _import(kind: str, name: str) -> None:
    """Import one of the example files; a problem in it stops the seed, naming the row."""
    from crisisline.imports import import_file
    from crisisline.messages import shown
    report = import_file(kind, EXAMPLES / name)
    if not report.ok:
        raise RuntimeError(f"{name}: " + "; ".join(shown(problem.line())
                                                  for problem in report.problems[:5]))


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


def _team(centre, name) -> Team:
    team = db.scalar(select(Team).where(Team.centre_id == centre.id, Team.name == name))
    if team is None:
        team = Team(centre_id=centre.id, name=name)
        db.add(team)
        db.flush()
    return team


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
