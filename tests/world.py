"""A small world with every relationship the access rules care about."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from casework.models import Case, CaseSource, Referral, RiskLevel, Student
from crisisline.accounts.models import (HospitalKind, Membership, Organisation, OrgKind,
                                        ReporterIdentity, Role, Team, TeamMember, User)
from crisisline.accounts.services import hash_password
from crisisline.database import db
from hotline.models import Channel, Contact
from schoolnet.models import KeyPeriod, KeyPeriodKind, ReportKind, SchoolReport

PASSWORD = "correct-horse-battery"
TEST_HOTLINE = "+8610012356"
_HASH = None


@dataclass
class World:
    users: dict[str, User] = field(default_factory=dict)
    records: dict[str, object] = field(default_factory=dict)
    orgs: dict[str, Organisation] = field(default_factory=dict)


def build_world(prefix: str = "t_") -> World:
    """Centres A and B; school S (with centre A) and SB (with B); hospitals H1 and H2; team T
    of centre A; a key period of each school.

    Names start with ``prefix``; a test that commits for real passes a unique one."""
    global _HASH
    _HASH = _HASH or hash_password(PASSWORD)
    w = World()

    def org(key, kind, **extra):
        w.orgs[key] = Organisation(code=f"{prefix.upper().rstrip('_')}-{key}", name=key,
                                   kind=kind, **extra)
        db.add(w.orgs[key])

    # the number Twilio's test webhooks dial; worlds that commit for real leave it unset
    org("A", OrgKind.HOTLINE_CENTRE, hotline_number=TEST_HOTLINE if prefix == "t_" else None)
    org("B", OrgKind.HOTLINE_CENTRE)
    db.flush()
    org("S", OrgKind.SCHOOL, centre_id=w.orgs["A"].id)
    org("SB", OrgKind.SCHOOL, centre_id=w.orgs["B"].id)
    org("H1", OrgKind.HOSPITAL, hospital_kind=HospitalKind.SPECIALIST_PSYCHIATRIC)
    org("H2", OrgKind.HOSPITAL, hospital_kind=HospitalKind.GENERAL)
    db.flush()
    team = Team(centre_id=w.orgs["A"].id, name="on duty")
    db.add(team)

    def user(key, role, *orgs):
        w.users[key] = User(username=f"{prefix}{key}", display_name=key, role=Role(role),
                            password_hash=_HASH,
                            memberships=[Membership(organisation=w.orgs[o]) for o in orgs])
        db.add(w.users[key])

    user("volunteer", "volunteer", "A")
    user("other_volunteer", "volunteer", "A")
    user("counselor", "counselor", "A")  # member of the on-duty team
    user("owner_counselor", "counselor", "A")  # owns one case, not on the team
    user("outsider_counselor", "counselor", "B")
    user("supervisor", "supervisor", "A")
    user("other_supervisor", "supervisor", "B")
    user("liaison", "hospital_liaison", "H1")
    user("other_liaison", "hospital_liaison", "H2")
    user("reporter", "reporter", "S")
    user("other_reporter", "reporter", "S")
    user("psych_reporter", "reporter", "S")  # the school's psychology centre teacher
    w.users["psych_reporter"].reporter_identity = ReporterIdentity.PSYCHOLOGY_CENTRE
    user("admin", "admin", "A")
    db.flush()
    db.add(TeamMember(team_id=team.id, user_id=w.users["counselor"].id))

    u, o = w.users, w.orgs
    student = Student(school_id=o["S"].id, student_number=f"{prefix}S1", name="学生甲",
                      birth_date=date(2011, 1, 1))
    student_b = Student(school_id=o["SB"].id, student_number=f"{prefix}S2", name="学生乙")
    db.add_all([student, student_b])
    db.flush()
    team_case = Case(centre_id=o["A"].id, student_id=student.id, source=CaseSource.SCHOOL_REPORT,
                     risk_level=RiskLevel.HIGH, team_id=team.id, reported_by_id=u["reporter"].id)
    owned_case = Case(centre_id=o["A"].id, source=CaseSource.HOTLINE_CONTACT,
                      risk_level=RiskLevel.MODERATE, owner_id=u["owner_counselor"].id)
    case_b = Case(centre_id=o["B"].id, student_id=student_b.id, source=CaseSource.PARENT,
                  risk_level=RiskLevel.LOW, owner_id=u["outsider_counselor"].id)
    transfer_case = Case(centre_id=o["A"].id, source=CaseSource.HOTLINE_CONTACT,
                         risk_level=RiskLevel.IMMINENT, owner_id=u["owner_counselor"].id,
                         state="hospital_transfer")
    db.add_all([team_case, owned_case, case_b, transfer_case])
    db.flush()
    w.records.update(
        team_case=team_case, owned_case=owned_case, case_b=case_b, transfer_case=transfer_case,
        referral_transfer=Referral(case_id=transfer_case.id, hospital_id=o["H1"].id),
        student=student, student_b=student_b,
        contact=Contact(centre_id=o["A"].id, channel=Channel.VOICE, caller_number="+8613000000000",
                        handled_by_id=u["volunteer"].id, case_id=owned_case.id),
        counselor_contact=Contact(centre_id=o["A"].id, channel=Channel.WEB_CHAT,
                                  handled_by_id=u["counselor"].id),
        contact_b=Contact(centre_id=o["B"].id, channel=Channel.SMS,
                          handled_by_id=u["other_volunteer"].id),
        referral_h1=Referral(case_id=team_case.id, hospital_id=o["H1"].id),
        referral_h2=Referral(case_id=case_b.id, hospital_id=o["H2"].id),
        report=SchoolReport(school_id=o["S"].id, student_id=student.id,
                            reported_by_id=u["reporter"].id, kind=ReportKind.AT_RISK,
                            report_date=date(2026, 11, 1)),
        report_b=SchoolReport(school_id=o["SB"].id, student_id=student_b.id,
                              reported_by_id=u["other_reporter"].id, kind=ReportKind.DAILY,
                              report_date=date(2026, 11, 1)),
        # in a past school year: no test's sweep starts them, no calendar page lists them
        key_period=KeyPeriod(school_id=o["S"].id, kind=KeyPeriodKind.EXAMS,
                             name="2025年期末考试前后", starts_on=date(2026, 1, 5),
                             ends_on=date(2026, 1, 20)),
        key_period_b=KeyPeriod(school_id=o["SB"].id, kind=KeyPeriodKind.EXAMS,
                               name="2025年期末考试前后", starts_on=date(2026, 1, 5),
                               ends_on=date(2026, 1, 20)),
    )
    db.add_all(w.records.values())
    db.flush()
    return w


def close_open_case(world: World) -> int:
    """Close the world's open case of ``student`` (in the caller's transaction) and return
    the student's id: one student has one open case, so a test that opens a new case for
    the student needs the old one closed first."""
    db.get(Case, world.records["team_case"].id).state = "closed"
    return world.records["student"].id
