"""Every page renders, whatever state the records are in.

One data set holds every state the models allow: cases in every workflow state, contacts in
every status on every channel, deadlines of every kind in every status (due later, overdue,
met, fired, cancelled), offers in every outcome, referrals, documents, follow-ups, reports
and break-the-glass grants, each once with every optional field set and once with none.
Every console, the case and contact pages and the audit page are then rendered as every
role; and every alert kind declared in ``casework.alerts`` is put on the consoles about a
case, a contact, both and neither. The states come from the declarations (enums, the
workflow's states, ``DEADLINE_KINDS``, ``OFFER_OUTCOMES``, ``alerts.KINDS``), so a state or
kind added later is rendered here too, and a page that cannot show it fails this test.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import cycle

import pytest
from flask_babel import force_locale
from sqlalchemy import inspect, select

from casework import alerts
from casework.models import (DEADLINE_KINDS, Alert, Case, CaseDocument, CaseHistory, CaseNote,
                             CaseSource, Deadline, DeadlineStatus, DocumentKind,
                             FollowUpContact, FollowUpKind, Gender, Guardian,
                             GuardianContactAttempt, Referral, RiskLevel, SpecialGroup,
                             Student)
from crisisline import audit
from crisisline.access.models import BreakGlassGrant
from crisisline.accounts.models import ReporterIdentity, SchoolUnit, Team, UnitKind, User
from crisisline.database import utcnow
from crisisline.i18n import DELIVERY_LABELS, WRAP_UP_LABELS
from hotline.cssrs import QUESTIONS
from schoolnet.models import (KeyPeriod, KeyPeriodKind, MissedRoutineReport, ReportKind,
                              ReportStatus, RoutineKind, RoutineReport, SchoolReport)
from schoolnet.services import school_year_days, school_year_of
from hotline.models import (OFFER_OUTCOMES, CallbackAttempt, Channel, Contact, ContactMessage,
                            ContactStatus, Offer, Presence, Priority)
from state_machines import case_workflow, presence
from tests.conftest import PDF, login
from tests.world import PASSWORD

CONSOLES = {  # each role's pages, beyond the case and contact pages
    "volunteer": ["/", "/console/volunteer"],
    "counselor": ["/", "/console/counselor", "/students", "/students?q=学生"],
    "supervisor": ["/", "/console/supervisor", "/console/supervisor/wallboard", "/audit",
                   "/school/compliance", "/school/compliance?kind=monthly_department",
                   "/break-glass/reviews", "/students", "/students/new"],
    "liaison": ["/", "/portal/hospital"],
    "reporter": ["/", "/school", "/school/compliance",
                 "/school/compliance?kind=monthly_department", "/school/routine/weekly_class",
                 "/school/routine/monthly_department", "/school/key-periods",
                 *(f"/school/key-periods?year={year}" for year in (2025, 2027, 2100))],
    # the school's psychology centre teacher, who keeps its key periods
    "psych_reporter": ["/", "/school", "/school/key-periods"],
    "admin": ["/", "/admin/users", "/admin/import", "/admin/district",
              "/admin/district/centres/new", "/admin/district/schools/new",
              "/admin/district/hospitals/new", "/students", "/students/new",
              "/students?page=2"],
}


@dataclass
class Everything:
    cases: list[int] = field(default_factory=list)
    students: list[int] = field(default_factory=list)
    contacts: list[int] = field(default_factory=list)
    school_reports: list[int] = field(default_factory=list)
    deadlines: dict[str, int] = field(default_factory=dict)  # a fired one of each kind


def full(record):
    """``record`` with every optional column set: a column added later must be set here
    too, so the pages are rendered with it."""
    unset = [column.key for column in inspect(type(record)).columns
             if column.nullable and getattr(record, column.key) is None]
    assert not unset, f"{type(record).__name__}: give {unset} a value in this test"
    return record


def bare(record):
    """``record`` with none of its optional columns set."""
    for column in inspect(type(record)).columns:
        if column.nullable and not column.primary_key:
            assert getattr(record, column.key) is None, (type(record).__name__, column.key)
    return record


def build_everything(db, world) -> Everything:
    u, o, now = world.users, world.orgs, utcnow()
    team = db.scalar(select(Team).where(Team.centre_id == o["A"].id))
    sources, risks = cycle(CaseSource), cycle(RiskLevel)
    made = Everything()

    for n, state in enumerate(case_workflow.STATES):
        # a student of its own: one open case per student whatever the state
        student = Student(school_id=o["S"].id, student_number=f"E{n}", name=f"学生{n}",
                          birth_date=date(2010, 1, 1), class_unit_id=None,
                          dormitory_unit_id=None)
        db.add(student)
        db.flush()
        guardian = Guardian(student_id=student.id, name="家长", relation="母亲",
                            phone="+8613900000000")
        db.add(guardian)
        case = Case(centre_id=o["A"].id, student_id=student.id, source=next(sources),
                    risk_level=next(risks), state=state, owner_id=u["counselor"].id,
                    team_id=team.id, reported_by_id=u["reporter"].id, summary="摘要",
                    responder="到场人", watcher="监护人", hospital_id=o["H1"].id,
                    legal_basis="guardian_consent", danger_to_others=True,
                    daily_reports=True, leave_kind="suspension",
                    leave_expected_end=date(2027, 1, 1), closed_at=now)
        empty = Case(centre_id=o["A"].id, source=next(sources), risk_level=next(risks),
                     state=state)
        db.add_all([case, empty])
        db.flush()
        made.cases += [full(case).id, bare(empty).id]
        db.add_all([
            CaseHistory(case_id=case.id, event="open", from_state=None, to_state="reported",
                        actor_id=None, data={}),
            CaseHistory(case_id=case.id, event="reopen", from_state="reported", to_state=state,
                        actor_id=u["counselor"].id, data={"reason": "理由"}),
            Referral(case_id=case.id, hospital_id=o["H1"].id, arrived_at=None,
                     discharged_at=None),
            full(Referral(case_id=case.id, hospital_id=o["H1"].id, arrived_at=now,
                          discharged_at=now, escort_id=u["counselor"].id)),
            CaseNote(case_id=case.id, author_id=u["counselor"].id, body="记录"),
            full(GuardianContactAttempt(case_id=case.id, guardian_id=guardian.id,
                                        attempted_at=now, reached=True, note="接通",
                                        recorded_by_id=u["counselor"].id)),
            GuardianContactAttempt(case_id=case.id, guardian_id=None, attempted_at=now,
                                   recorded_by_id=u["counselor"].id),
            *(FollowUpContact(case_id=case.id, kind=kind, outcome="好转", occurred_at=now,
                              recorded_by_id=u["counselor"].id) for kind in FollowUpKind),
            *(CaseDocument(case_id=case.id, kind=kind, filename=f"{kind.value}.pdf",
                           content_type="application/pdf", size=len(PDF), sha256="0" * 64,
                           issued_by_hospital_id=o["H1"].id if i % 2 else None,
                           uploaded_by_id=u["counselor"].id, content=PDF)
              for i, kind in enumerate(DocumentKind)),
        ])
        # every kind of deadline in every status, due later and overdue
        for kind in DEADLINE_KINDS:
            for status in DeadlineStatus:
                for due_at in (now + timedelta(hours=1), now - timedelta(hours=1)):
                    settled = None if status == DeadlineStatus.PENDING else now
                    deadline = Deadline(case_id=case.id, kind=kind, due_at=due_at,
                                        status=status, settled_at=settled)
                    db.add(deadline)
                    if status == DeadlineStatus.FIRED:
                        made.deadlines[kind] = deadline

    priorities = cycle(Priority)
    for status in ContactStatus:
        for channel in Channel:
            contact = Contact(
                centre_id=o["A"].id, channel=channel,
                twilio_sid=f"E-{status.value}-{channel.value}",
                caller_number="+8613000000001", status=status, priority=next(priorities),
                language="zh", answered_by_id=u["volunteer"].id,
                handled_by_id=u["volunteer"].id, case_id=made.cases[0], risk_level=next(risks),
                summary="摘要", categories=["family"], wrap_up_code=next(iter(WRAP_UP_LABELS)),
                queued_at=now, offered_at=now, answered_at=now, transferred_at=now,
                ended_at=now, wrapped_up_at=now, supervisor_alerted_at=now,
                screening={question: True for question in QUESTIONS}, screened_at=now,
                screened_risk=RiskLevel.HIGH)
            empty = Contact(centre_id=o["A"].id, channel=channel, twilio_sid=None,
                            caller_number=None, status=status, answered_by_id=None,
                            handled_by_id=None, case_id=None, wrap_up_code=None,
                            queued_at=None, offered_at=None, answered_at=None,
                            transferred_at=None, ended_at=None, wrapped_up_at=None,
                            supervisor_alerted_at=None, screening=None, screened_at=None,
                            screened_risk=None)
            db.add_all([contact, empty])
            db.flush()
            made.contacts += [full(contact).id, bare(empty).id]
            db.add_all([ContactMessage(contact_id=contact.id, inbound=True, body="你好",
                                       twilio_sid=None, sent_by_id=None, delivery=None),
                        *(ContactMessage(contact_id=contact.id, inbound=False, body="在的",
                                         sent_by_id=u["volunteer"].id, delivery=delivery)
                          for delivery in DELIVERY_LABELS),
                        CallbackAttempt(contact_id=contact.id, attempted_by_id=u["volunteer"].id,
                                        reached=False, note="")])

    # offers in every outcome; a person and a contact have one pending offer at most
    people = cycle([u["volunteer"], u["counselor"], u["other_volunteer"]])
    for outcome in OFFER_OUTCOMES:
        for contact_id in made.contacts[:3]:
            person = next(people)
            if outcome == "pending" and db.scalar(select(Offer.id).where(
                    Offer.outcome == "pending",
                    (Offer.user_id == person.id) | (Offer.contact_id == contact_id))):
                continue
            db.add(Offer(contact_id=contact_id, user_id=person.id, outcome=outcome,
                         expires_at=now + timedelta(seconds=20)))
            db.flush()

    # a student with everything (units, gender, every special group) and one with nothing
    grade = SchoolUnit(school_id=o["S"].id, kind=UnitKind.GRADE, name="七年级")
    building = SchoolUnit(school_id=o["S"].id, kind=UnitKind.BUILDING, name="3号楼")
    db.add_all([grade, building])
    db.flush()
    klass = SchoolUnit(school_id=o["S"].id, kind=UnitKind.CLASS, name="1班", parent=grade)
    room = SchoolUnit(school_id=o["S"].id, kind=UnitKind.DORMITORY, name="201", parent=building)
    db.add_all([klass, room])
    db.flush()
    for gender in Gender:
        student = Student(school_id=o["S"].id, student_number=f"F-{gender.value}",
                          name="全信息", gender=gender, birth_date=date(2011, 5, 6),
                          class_unit_id=klass.id, dormitory_unit_id=room.id,
                          guardians=[Guardian(name="家长", relation="父亲",
                                              phone="+8613900000001")])
        student.special_groups = list(SpecialGroup)
        db.add(student)
        db.flush()
        made.students.append(full(student).id)
    bare_student = Student(school_id=o["S"].id, student_number="F-none", name="无信息")
    db.add(bare_student)
    db.flush()
    made.students += [bare(bare_student).id, world.records["student_b"].id,
                      *db.scalars(select(Case.student_id).where(Case.id.in_(made.cases),
                                                                 Case.student_id.is_not(None)))]

    unit = SchoolUnit(school_id=o["S"].id, kind=UnitKind.CLASS, name="报告班")
    db.add(unit)
    db.flush()
    for n, (kind, status) in enumerate((kind, status) for kind in ReportKind
                                       for status in ReportStatus):
        reports = [SchoolReport(school_id=o["S"].id, student_id=world.records["student"].id,
                                unit_id=unit.id, reported_by_id=u["reporter"].id, kind=kind,
                                report_date=date(2026, 11, 2), note="正常", status=status,
                                once_key=f"every-{n}", taken_by_id=u["counselor"].id,
                                taken_at=utcnow(), case_id=made.cases[0],
                                closed_reason="已核实，无需干预", handled_at=utcnow(),
                                triage_alerted_at=utcnow()),
                   SchoolReport(school_id=o["S"].id, student_id=None,
                                reported_by_id=u["reporter"].id, kind=kind, status=status,
                                report_date=date(2026, 11, 2))]
        db.add_all(reports)
        db.flush()
        made.school_reports += [full(reports[0]).id, bare(reports[1]).id]

    # the network: the reporter is the school's psychology centre (every section of the
    # reporter page, and the compliance view); the other reporter the class committee member
    # of 报告班, whose weekly reports arrived on time, late, or not at all (one miss alerted)
    db.get(User, u["reporter"].id).reporter_identity = ReporterIdentity.PSYCHOLOGY_CENTRE
    committee = db.get(User, u["other_reporter"].id)
    committee.reporter_identity = ReporterIdentity.CLASS_COMMITTEE
    committee.memberships[0].unit_id = unit.id
    today = date.today()
    for weeks_ago, filed_late in ((0, False), (2, True)):
        start = today - timedelta(days=today.weekday() + 7 * weeks_ago)
        db.add(full(RoutineReport(
            school_id=o["S"].id, unit_id=unit.id, kind=RoutineKind.WEEKLY_CLASS,
            period_start=start, period_end=start + timedelta(days=6), filed_by_id=committee.id,
            study="正常", life="正常", relationships="正常", emotions="正常",
            watch=[{"student_id": world.records["student"].id, "note": "关注"}],
            created_at=now + timedelta(days=30) if filed_late else now)))
    db.add(MissedRoutineReport(unit_id=unit.id, kind=RoutineKind.WEEKLY_CLASS,
                               period_start=today - timedelta(days=today.weekday() + 7)))
    # key periods of every kind in this school year: over, under way and to come, with
    # their reviews created and without
    first, last = school_year_days(school_year_of(now.date()))
    for kind in KeyPeriodKind:
        for starts_on, ends_on in ((first, first), (now.date(), now.date()), (last, last)):
            db.add_all([full(KeyPeriod(school_id=o["S"].id, kind=kind, name=f"时段{kind.value}",
                                       starts_on=starts_on, ends_on=ends_on,
                                       reviews_created_at=now)),
                        bare(KeyPeriod(school_id=o["S"].id, kind=kind, name="时段",
                                       starts_on=starts_on, ends_on=ends_on))])

    for object_type, object_id in (("case", world.records["case_b"].id),
                                   ("contact", world.records["contact_b"].id)):
        for outcome in (None, "justified", "unjustified"):
            db.add(BreakGlassGrant(
                user_id=u["counselor"].id, object_type=object_type, object_id=object_id,
                reason="救援中需要查看", expires_at=now + timedelta(minutes=30),
                reviewed_by_id=u["supervisor"].id if outcome else None,
                reviewed_at=now if outcome else None, review_outcome=outcome,
                review_note="已核实" if outcome else None))
    audit.record("system.check", actor="system")
    db.flush()
    return made


@pytest.fixture
def everything(ctx, world) -> Everything:
    with ctx() as db:
        made = build_everything(db, world)
        db.commit()
        return made


@pytest.fixture
def browsers(app, world):
    """A signed-in browser for each role."""
    signed_in = {}
    for role in CONSOLES:
        signed_in[role] = app.test_client()
        assert login(signed_in[role], f"t_{role}", PASSWORD).status_code == 302
    return signed_in


def get(browser, path: str):
    response = browser.get(path, follow_redirects=True)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def test_every_console_renders_with_every_record_state(everything, browsers):
    for role, pages in CONSOLES.items():
        for path in pages:
            get(browsers[role], path)


def test_every_case_and_contact_page_renders_for_every_role(everything, browsers):
    pages = [*(f"/cases/{case_id}" for case_id in everything.cases),
             *(f"/contacts/{contact_id}" for contact_id in everything.contacts)]
    for path in pages:
        get(browsers["supervisor"], path)  # the centre's supervisor reads every one
        for role, browser in browsers.items():
            status = browser.get(path).status_code
            assert status in (200, 403), (role, path, status)  # shown, or refused: never a 500
    for case_id in everything.cases:
        assert "<svg" in get(browsers["supervisor"], f"/cases/{case_id}/workflow.svg")
    for contact_id in everything.contacts:
        get(browsers["supervisor"], f"/contacts/{contact_id}/transcript")


def test_every_school_report_page_renders_for_every_role(everything, browsers):
    for report_id in everything.school_reports:
        get(browsers["supervisor"], f"/school-reports/{report_id}")  # the school's centre
        get(browsers["reporter"], f"/school-reports/{report_id}")  # who reported it
        for browser in browsers.values():
            status = browser.get(f"/school-reports/{report_id}").status_code
            assert status in (200, 403, 404), status  # shown, or refused: never a 500


def test_every_student_page_renders_for_every_role(everything, browsers):
    for student_id in everything.students:
        get(browsers["admin"], f"/students/{student_id}")  # an admin keeps every profile
        get(browsers["admin"], f"/students/{student_id}/edit")
        for role, browser in browsers.items():
            for path in (f"/students/{student_id}", f"/students/{student_id}/edit"):
                status = browser.get(path).status_code
                assert status in (200, 403, 404), (role, path, status)  # never a 500


def test_the_duty_panel_renders_in_every_presence_state(ctx, world, everything, browsers):
    for state in presence.STATES:
        with ctx() as db:
            for role in ("volunteer", "counselor"):
                user = world.users[role]
                row = db.get(Presence, user.id) or Presence(user_id=user.id,
                                                            centre_id=world.orgs["A"].id)
                row.state = state
                db.add(row)
            db.commit()
        assert f'data-presence="{state}"' in get(browsers["volunteer"], "/console/volunteer")
        assert f'data-presence="{state}"' in get(browsers["counselor"], "/console/counselor")
        get(browsers["supervisor"], "/console/supervisor")


def alerts_section(page: str) -> str:
    found = re.search(r'<div id="alerts"[^>]*>(.*?)</div>', page, re.S)
    return found.group(1) if found else ""


def test_every_alert_kind_shows_on_the_consoles_with_a_link_to_its_record(
        app, ctx, world, everything, browsers):
    case_id, contact_id = everything.cases[0], everything.contacts[0]
    report_id = everything.school_reports[0]
    links = [(case_id, None, None), (None, contact_id, None), (case_id, contact_id, None),
             (None, None, report_id), (case_id, None, report_id), (None, None, None)]
    consoles = {"counselor": "/console/counselor", "supervisor": "/console/supervisor"}
    assert alerts.KINDS, "no alert kind is declared"
    for kind in alerts.KINDS:
        deadline = everything.deadlines.get(kind.removeprefix("missed_"))
        with ctx() as db:
            raised = [Alert(recipient_id=world.users[role].id, kind=kind, case_id=case,
                            contact_id=contact, school_report_id=report,
                            deadline_id=deadline.id if deadline else None, sms_status=sms)
                      for role in consoles for (case, contact, report), sms in zip(
                          links, cycle([None, "sending", "sent", "failed"]))]
            db.add_all(raised)
            db.commit()
        with app.test_request_context(), force_locale("zh_Hans_CN"):
            words = alerts.label(kind)
        assert words != kind, f"{kind}: no words for it"
        for role, console in consoles.items():
            for path in (console, "/"):
                shown = alerts_section(get(browsers[role], path))
                assert shown.count(words) == len(links), (kind, role, path)
                mine = [alert for alert in raised if alert.recipient_id == world.users[role].id]
                for alert in mine:
                    assert f'action="/alerts/{alert.id}/acknowledge"' in shown, (kind, role)
                    if alert.case_id:
                        assert f'href="/cases/{alert.case_id}"' in shown, (kind, role)
                    if alert.contact_id:
                        assert f'href="/contacts/{alert.contact_id}"' in shown, (kind, role)
                    if alert.school_report_id:
                        assert f'href="/school-reports/{alert.school_report_id}"' in shown, \
                            (kind, role)
        with ctx() as db:
            for alert in raised:
                db.get(Alert, alert.id).acknowledged_at = utcnow()
            db.commit()


def test_an_alert_kind_nobody_declared_is_refused():
    with pytest.raises(ValueError, match="undeclared alert kind"):
        Alert(recipient_id=1, kind="something_new")


def test_every_district_page_renders_with_every_kind_of_organisation_and_unit(ctx, world,
                                                                              browsers):
    """Centres with and without numbers and backup line; a school of every kind (and of
    none) with every kind of unit and designated hospitals; a hospital of every category
    (and of none) with and without a green channel; teams with and without members."""
    from crisisline.accounts.models import (HospitalKind, HotlineNumber, Organisation, OrgKind,
                                            SchoolKind, SchoolUnit, UnitKind)
    from crisisline.district import services
    o = world.orgs
    with ctx() as db:
        full_centre = Organisation(code="R-C1", name="中心", kind=OrgKind.HOTLINE_CENTRE,
                                   backup_line="+8612356000", numbers=[
                                       HotlineNumber(number="+8613800000001"),
                                       HotlineNumber(number="+861012345678")])
        db.add(full_centre)
        hospitals = [Organisation(code=f"R-H{n}", name=f"医院{n}", kind=OrgKind.HOSPITAL,
                                  hospital_kind=kind, centre_id=o["A"].id if n % 2 else None,
                                  green_channel_phone="+8613900000000" if n % 2 else None)
                     for n, kind in enumerate([*HospitalKind, None])]
        schools = [Organisation(code=f"R-S{n}", name=f"学校{n}", kind=OrgKind.SCHOOL,
                                school_kind=kind, centre_id=o["A"].id)
                   for n, kind in enumerate([*SchoolKind, None])]
        db.add_all(hospitals + schools)
        db.flush()
        schools[0].designated_hospitals = hospitals[:2]
        top = {kind: SchoolUnit(school_id=schools[0].id, kind=kind, name=kind.value)
               for kind in (UnitKind.DEPARTMENT, UnitKind.GRADE, UnitKind.BUILDING)}
        db.add_all(top.values())
        db.flush()
        db.add_all([SchoolUnit(school_id=schools[0].id, kind=UnitKind.CLASS, name="1班",
                               parent_id=top[UnitKind.DEPARTMENT].id),
                    SchoolUnit(school_id=schools[0].id, kind=UnitKind.DORMITORY, name="302",
                               parent_id=top[UnitKind.BUILDING].id),
                    SchoolUnit(school_id=schools[0].id, kind=UnitKind.DORMITORY,
                               name="旧宿舍", parent_id=None)])  # from before buildings
        assert {kind for kind in UnitKind} <= {unit.kind for unit in db.scalars(
            select(SchoolUnit).where(SchoolUnit.school_id == schools[0].id))}
        empty_team = services.create_team(full_centre.id, "空组")
        db.commit()
        codes = {"centres": [full_centre.code, o["B"].code],
                 "schools": [school.code for school in schools] + [o["S"].code],
                 "hospitals": [hospital.code for hospital in hospitals]}
        teams = [empty_team.id, db.scalar(select(Team.id).where(Team.centre_id == o["A"].id))]
    admin = browsers["admin"]
    index = get(admin, "/admin/district")
    for kinds, listed in codes.items():
        for code in listed:
            assert code in index
            get(admin, f"/admin/district/{kinds}/{code}")
    assert "302" in get(admin, f"/admin/district/schools/{codes['schools'][0]}")
    for team_id in teams:
        get(admin, f"/admin/district/teams/{team_id}")


def test_every_staff_page_renders_for_users_in_every_state(app, ctx, world, browsers):
    """The admin's user pages for users of every role, identity and account state (disabled,
    a first sign-in pending, two-factor sign-in on or being set up, links used, expired and
    valid), each person's account page, and the sign-in pages of a link and a code."""
    from urllib.parse import urlsplit

    import pyotp

    from crisisline.accounts.models import (ReporterIdentity, SchoolUnit, SignInLink,
                                            UnitKind, User)
    from crisisline.accounts.services import reset_sign_in
    now = utcnow()
    with ctx() as db:
        school = world.orgs["S"]
        grade = SchoolUnit(school_id=school.id, kind=UnitKind.GRADE, name="初一")
        db.add(grade)
        db.flush()
        db.add(SchoolUnit(school_id=school.id, kind=UnitKind.CLASS, name="1班",
                          parent_id=grade.id))
        users = {key: db.get(User, user.id) for key, user in world.users.items()}
        users["other_volunteer"].disabled_at = now
        users["other_reporter"].must_change_password = True
        users["supervisor"].totp_secret = pyotp.random_base32()  # being set up
        users["other_supervisor"].totp_secret = pyotp.random_base32()
        users["other_supervisor"].totp_enabled_at = now
        users["counselor"].phone, users["counselor"].languages = "+8613800000000", "zh,en"
        users["reporter"].memberships[0].unit = grade
        for n, (used, expires) in enumerate(((now, now + timedelta(hours=1)), (None, now),
                                             (None, now + timedelta(hours=24)))):
            db.add(SignInLink(user_id=users["volunteer"].id, token_hash=f"{n:064d}",
                              expires_at=expires, used_at=used))
        link = reset_sign_in(users["liaison"].id, "link")
        db.commit()
        ids = {key: user.id for key, user in users.items()}
    admin = browsers["admin"]
    for path in ["/admin/users", "/admin/users?q=t_", "/admin/users?q=nobody%25",
                 *(f"/admin/users/{user_id}" for user_id in ids.values())]:
        get(admin, path)
    for identity in ReporterIdentity:
        with ctx() as db:
            db.get(User, ids["reporter"]).reporter_identity = identity
            db.commit()
        assert "t_reporter" in get(admin, "/admin/users")
        get(admin, f"/admin/users/{ids['reporter']}")
    for browser in browsers.values():
        get(browser, "/account")
    anonymous = app.test_client()
    get(anonymous, urlsplit(link).path)
    assert anonymous.get("/sign-in/not-a-token").status_code == 404
    login(anonymous, "t_other_supervisor", PASSWORD)
    get(anonymous, "/login/code")
