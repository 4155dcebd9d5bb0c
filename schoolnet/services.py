"""The school network's reports and their handling at the centre; the schools' key periods.

A reporter files a report about a student at risk, a daily report (日报告) about a student
under daily reporting, or a zero report (零报告: nothing happened today). An at-risk report
alerts the centre that serves the school at once (its on-duty counselors and supervisors,
on their consoles and by text); one of them takes it, then opens a case for it (or joins
it to the student's open case) or closes it with the reason. The reporter sees each step.

A school's psychology centre teacher keeps its calendar of key periods (重要时段: holidays,
exams, the start of term, ...); when one starts, every case of the school's students in
follow-up is due a review (a durable deadline met by a follow-up contact).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from casework import alerts, deadlines
from casework import services as casework
from casework.models import Case, CaseSource, RiskLevel, Student
from casework.policy import policy
from crisisline import audit
from crisisline.access.rules import EDIT, VIEW, can, school_centre_id, visible
from crisisline.accounts.models import (Membership, Organisation, OrgKind, ReporterIdentity,
                                        Role, User)
from crisisline.database import db, utcnow
from crisisline.errors import Conflict, Forbidden, Hidden, InvalidInput, NotFound
from crisisline.i18n import KEY_PERIOD_KIND_LABELS, RECORD_LABELS, choice_named
from crisisline.realtime import emit_after_commit, reports_room, user_room
from crisisline.validation import name_problem
from hotline.models import Presence
from schoolnet.access import keeps_calendar, reach
from schoolnet.models import (OPEN_STATUSES, KeyPeriod, KeyPeriodKind, ReportKind, ReportStatus,
                              SchoolReport, WatchListEntry)


def local_today() -> date:
    """Today where the schools are (a report's date is the school's day, not UTC's)."""
    return local_date(utcnow())


def local_date(moment: datetime) -> date:
    """The date where the schools are at ``moment``."""
    return moment.astimezone(ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])).date()


def school_place(actor: User) -> Membership:
    """The reporter's place in the network: their school and unit."""
    place = next((membership for membership in actor.memberships
                  if membership.organisation.kind == OrgKind.SCHOOL), None)
    if actor.role != Role.REPORTER or place is None:
        raise Forbidden(_l("only school reporters file school reports"))
    return place


def file_report(actor: User, *, kind: str, note: str = "", student_id: int | None = None,
                student_number: str | None = None,
                report_date: date | None = None) -> SchoolReport:
    """File a report from ``actor``'s place in the school network.

    The student is named by id or by student number, within the reporter's school: an
    at-risk or daily report needs one, a zero report may name one (nothing happened to
    them today) or none (nothing happened in the reporter's unit). One daily or zero report
    per student, or per unit, and day: a second is refused with the first.
    """
    place = school_place(actor)
    school_id = place.organisation_id
    student = db.get(Student, student_id) if student_id is not None else None
    if student is None and student_number:
        student = db.scalar(select(Student).where(Student.student_number == student_number,
                                                  Student.school_id == school_id))
    named = student_id is not None or bool(student_number)
    today = local_today()
    report_date = report_date or today
    errors = {}
    if kind not in {k.value for k in ReportKind}:
        errors["kind"] = _l("choose one of the options offered")
    elif named and (student is None or student.school_id != school_id):
        errors["student_id"] = _l("must be a student of your school")
    elif kind != ReportKind.ZERO.value and student is None:
        errors["student_id"] = _l("choose the student the report is about")
    if kind == ReportKind.AT_RISK.value and not (note or "").strip():
        errors["note"] = _l("say what you saw")
    if report_date > today:
        errors["report_date"] = _l("cannot be in the future")
    elif kind != ReportKind.AT_RISK.value and report_date < today - timedelta(days=1):
        errors["report_date"] = _l("a daily or zero report is for today or yesterday")
    if errors:
        raise InvalidInput(errors)
    kind = ReportKind(kind)
    once_key = None
    if kind != ReportKind.AT_RISK:
        once_key = (f"student:{student.id}:{report_date}" if student is not None else
                    f"unit:{school_id}:{place.unit_id or '-'}:{report_date}")
    report = SchoolReport(school_id=school_id, student_id=student.id if student else None,
                          unit_id=place.unit_id, reported_by_id=actor.id, kind=kind,
                          note=note or "", report_date=report_date, once_key=once_key)
    first = add_once(report, select(SchoolReport).where(SchoolReport.once_key == once_key)
                     if once_key else None)
    if first is not None:
        raise Conflict(_l("already reported for that day: report #%(id)d", id=first.id),
                       first={"id": first.id, "kind": first.kind.value,
                              "report_date": first.report_date.isoformat()})
    audit.record("school_report.create", report, changes={
        "kind": {"new": kind.value}, "student_id": {"new": report.student_id}})
    if kind == ReportKind.AT_RISK:
        alerts.raise_alerts(alerts.SCHOOL_REPORT_AT_RISK, _first_responders(school_id),
                            school_report_id=report.id)
        _announce(report)
    elif student is not None:
        _meet_daily_deadlines(student)
    return report


def add_once(record, first_query) -> object | None:
    """Add ``record`` unless one with the same unique key exists; returns that first one
    (found before, or by the database when two arrive at once), else None."""
    if first_query is not None:
        first = db.scalar(first_query)
        if first is not None:
            return first
    try:
        with db.begin_nested():
            db.add(record)
    except IntegrityError:
        if first_query is None:
            raise
        return db.scalar(first_query)
    return None


def _meet_daily_deadlines(student: Student) -> None:
    """A daily or zero report about a student under daily reporting meets the period now
    running, and starts the next; it cannot be filed ahead."""
    period = timedelta(hours=policy().daily_report_hours)
    for case in db.scalars(select(Case).where(Case.student_id == student.id,
                                              Case.daily_reports.is_(True))):
        # locked: a poller firing this deadline now is waited for, not overwritten
        current = [due for due in deadlines.pending(case, "daily_report", lock=True)
                   if due.due_at <= utcnow() + period]
        deadlines.settle(case, "daily_report_escalation")  # the school was reminded: it came
        if current:
            deadlines.settle(case, "daily_report")
        for due in current:
            deadlines.schedule(case, "daily_report", due_at=due.due_at + period)


def students_due_today(actor: User) -> list[Student]:
    """The students under daily reporting whose report today is the reporter's to file
    (within their reach in the network, or whom they reported on daily this past week),
    and who have none yet."""
    place = school_place(actor)
    today = local_today()
    reported = select(SchoolReport.student_id).where(
        SchoolReport.report_date == today, SchoolReport.student_id.is_not(None),
        SchoolReport.kind.in_((ReportKind.DAILY, ReportKind.ZERO)))
    theirs = Student.id.in_(select(SchoolReport.student_id).where(
        SchoolReport.reported_by_id == actor.id,
        SchoolReport.kind.in_((ReportKind.DAILY, ReportKind.ZERO)),
        SchoolReport.report_date >= today - timedelta(days=7)))
    covering = reach(actor)
    if covering is not None:
        theirs |= covering.students()
    return list(db.scalars(select(Student).where(
        Student.school_id == place.organisation_id, theirs,
        Student.id.in_(select(Case.student_id).where(Case.daily_reports.is_(True),
                                                     Case.closed_at.is_(None))),
        Student.id.not_in(reported)).order_by(Student.student_number)))


def open_reports(actor: User) -> list[SchoolReport]:
    """The at-risk reports of the actor's centre still to be handled, oldest first."""
    if actor.role not in (Role.COUNSELOR, Role.SUPERVISOR):
        raise Forbidden(_l("only the centre's counselors and supervisors handle school "
                           "reports"))
    return list(db.scalars(visible(actor, SchoolReport).where(
        SchoolReport.kind == ReportKind.AT_RISK, SchoolReport.status.in_(OPEN_STATUSES))
        .order_by(SchoolReport.created_at, SchoolReport.id)))


def take(actor: User, report_id: int) -> SchoolReport:
    """A counselor or supervisor takes an at-risk report: it is theirs to handle."""
    report = _handled_report(actor, report_id)
    if report.status == ReportStatus.IN_PROGRESS and report.taken_by_id != actor.id:
        raise Conflict(_l("%(name)s has taken this report already",
                          name=report.taken_by.display_name), taken_by=report.taken_by_id)
    if report.status == ReportStatus.RECEIVED:
        report.status, report.taken_by_id, report.taken_at = (
            ReportStatus.IN_PROGRESS, actor.id, utcnow())
        audit.record("school_report.take", report, changes=audit.diff(report))
        _announce(report)
    return report


def open_case(actor: User, report_id: int, *, risk_level: str = RiskLevel.HIGH.value
              ) -> Case:
    """Open a crisis case for the report's student, linked to the report; if the student
    has an open case already, the report joins it and its owner is alerted."""
    report = _handled_report(actor, report_id)
    if risk_level not in {level.value for level in RiskLevel}:
        raise InvalidInput({"risk_level": _l("choose one of the options offered")})
    case = refer_to_centre(actor, report.student, source=CaseSource.SCHOOL_REPORT,
                           risk_level=RiskLevel(risk_level), summary=report.note,
                           joined=alerts.SCHOOL_REPORT_ON_OPEN_CASE,
                           school_report_id=report.id)
    _settle(actor, report, ReportStatus.CASE_OPENED, case_id=case.id)
    return case


def refer_to_centre(actor: User, student: Student, *, source: CaseSource,
                    risk_level: RiskLevel, summary: str, joined: str, **about) -> Case:
    """A crisis case for a student the school network found at risk: the student's open
    case if there is one (一生一案: its owner, or else the centre's supervisors, are alerted
    with the ``joined`` kind, ``about`` naming the school's record), else a new case at the
    centre that serves the school, for its on-duty team (a counselor opening it owns it);
    opened by the school (a screening graded high), the centre's first responders are
    alerted at once."""
    # two referrals of one student at once queue here: the second joins the first's case
    db.scalar(select(Student.id).where(Student.id == student.id).with_for_update())
    case = casework.open_case_of(student.id)
    if case is not None:
        owner = db.get(User, case.owner_id) if case.owner_id else None
        recipients = [owner] if owner is not None and owner.is_active else \
            deadlines.centre_supervisors(case.centre_id)
        alerts.raise_alerts(joined, recipients, case_id=case.id, **about)
        return case
    centre_id = school_centre_id(student.school_id)
    if centre_id is None:
        raise Conflict(_l("no hotline centre serves this school yet: call the centre, and "
                          "ask the district to name the centre that serves the school"))
    case = casework.start_case(actor, centre_id, source=source, risk_level=risk_level,
                               summary=summary, student=student,
                               owner=actor if actor.role == Role.COUNSELOR else None)
    if actor.role == Role.REPORTER:
        alerts.raise_alerts(alerts.SCREENING_CASE, _first_responders(student.school_id),
                            case_id=case.id)
    return case


def close(actor: User, report_id: int, *, reason: str) -> SchoolReport:
    """Handle the report without a case, saying why (e.g. 已核实，无需干预)."""
    report = _handled_report(actor, report_id)
    if not (reason or "").strip():
        raise InvalidInput({"reason": _l("say why no case is needed")})
    _settle(actor, report, ReportStatus.CLOSED, closed_reason=reason.strip())
    return report


def _settle(actor: User, report: SchoolReport, status: ReportStatus, **outcome) -> None:
    report.status, report.handled_at = status, utcnow()
    if report.taken_by_id is None:
        report.taken_by_id, report.taken_at = actor.id, report.handled_at
    for name, value in outcome.items():
        setattr(report, name, value)
    audit.record(f"school_report.{'open_case' if status == ReportStatus.CASE_OPENED else 'close'}",
                 report, changes=audit.diff(report))
    _announce(report)


def _handled_report(actor: User, report_id: int) -> SchoolReport:
    """The at-risk report ``actor`` may handle, still open, locked until the commit (two
    people handling it at once queue here, and the second finds it handled). Once taken,
    it is the taker's, or a supervisor's."""
    report = db.get(SchoolReport, report_id, with_for_update=True, populate_existing=True)
    missing = _l("%(record)s %(id)s does not exist", record=RECORD_LABELS["school_report"],
                 id=report_id)
    if report is None:
        raise NotFound(missing)
    if not can(actor, EDIT, report):
        if can(actor, VIEW, report):
            raise Forbidden(_l("you may not handle this report"), object_type="school_report",
                            object_id=report.id)
        raise Hidden(missing, object_type="school_report", object_id=report.id)
    if report.status not in OPEN_STATUSES:
        raise Conflict(_l("this report has been handled already"), status=report.status.value)
    if report.status == ReportStatus.IN_PROGRESS and report.taken_by_id != actor.id and \
            actor.role != Role.SUPERVISOR:
        raise Conflict(_l("%(name)s has taken this report already",
                          name=report.taken_by.display_name), taken_by=report.taken_by_id)
    return report


def alert_untaken_reports(now: datetime | None = None) -> int:
    """At-risk reports nobody has taken within the policy's minutes: the supervisors of
    the centre are alerted (and texted), once per report. The caller commits."""
    now = now or utcnow()
    late = db.scalars(select(SchoolReport).where(
        SchoolReport.kind == ReportKind.AT_RISK, SchoolReport.status == ReportStatus.RECEIVED,
        SchoolReport.triage_alerted_at.is_(None),
        SchoolReport.created_at <= now - timedelta(minutes=policy().report_triage_minutes))
        .with_for_update(skip_locked=True)).all()
    for report in late:
        report.triage_alerted_at = now
        centre_id = school_centre_id(report.school_id)
        supervisors = deadlines.centre_supervisors(centre_id) if centre_id else []
        alerts.raise_alerts(alerts.SCHOOL_REPORT_UNTAKEN, supervisors,
                            school_report_id=report.id)
        audit.record("school_report.untaken", report, actor="system", changes={
            "supervisors": {"new": [user.username for user in supervisors]}})
    return len(late)


def _first_responders(school_id: int) -> list[User]:
    """Who hears of an at-risk report at once: the supervisors of the centre that serves
    the school, and its counselors who are on duty now."""
    centre_id = school_centre_id(school_id)
    if centre_id is None:
        return []
    on_duty = select(Presence.user_id).where(Presence.centre_id == centre_id,
                                             Presence.state != "offline")
    return list(db.scalars(select(User).join(Membership).where(
        Membership.organisation_id == centre_id, User.disabled_at.is_(None),
        (User.role == Role.SUPERVISOR)
        | ((User.role == Role.COUNSELOR) & User.id.in_(on_duty))).order_by(User.id)))


def _announce(report: SchoolReport) -> None:
    """Tell the centre's report lists and the reporter's page (after commit)."""
    payload = {"school_report_id": report.id, "status": report.status.value}
    centre_id = school_centre_id(report.school_id)
    if centre_id is not None:
        emit_after_commit("school_report.updated", payload, room=reports_room(centre_id))
    emit_after_commit("school_report.updated", payload, room=user_room(report.reported_by_id))


def daily_reporters(case: Case) -> list[User]:
    """Who owes the daily report on a case's student, and is told first when it is missed:
    the head teacher and class committee members of the student's class and whoever filed
    a daily or zero report on them in the past week; else the school's psychology centre."""
    student = case.student
    if student is None:
        return []
    reporters = (User.role == Role.REPORTER) & User.disabled_at.is_(None)
    of_school = select(Membership.user_id).where(
        Membership.organisation_id == student.school_id)
    class_staff = of_school.where(Membership.unit_id == student.class_unit_id) \
        if student.class_unit_id else None
    recent = select(SchoolReport.reported_by_id).where(
        SchoolReport.student_id == student.id,
        SchoolReport.kind.in_((ReportKind.DAILY, ReportKind.ZERO)),
        SchoolReport.report_date >= local_today() - timedelta(days=7))
    owing = User.id.in_(recent)
    if class_staff is not None:
        owing |= User.id.in_(class_staff) & User.reporter_identity.in_(
            (ReporterIdentity.HEAD_TEACHER, ReporterIdentity.CLASS_COMMITTEE))
    found = list(db.scalars(select(User).where(reporters, User.id.in_(of_school), owing)
                            .order_by(User.id)))
    return found or list(db.scalars(select(User).where(
        reporters, User.id.in_(of_school),
        User.reporter_identity == ReporterIdentity.PSYCHOLOGY_CENTRE).order_by(User.id)))

# -- key periods (重要时段) -------------------------------------------------------------------

# a school year is named by the year it starts in and runs from 1 August (the days before
# the September term are its own: they lead up to it) to 31 July
SCHOOL_YEAR_START_MONTH = 8
FARTHEST = timedelta(days=730)  # a period's days are within two years of today
NAME_LENGTH = 120
KEEPS_CALENDAR = _l("only the school's psychology centre teacher keeps its key periods")


def school_year_of(day: date) -> int:
    """The school year ``day`` belongs to, named by the year it starts in."""
    return day.year if day.month >= SCHOOL_YEAR_START_MONTH else day.year - 1


def school_year_days(year: int) -> tuple[date, date]:
    """The first and last day of school year ``year``."""
    return date(year, SCHOOL_YEAR_START_MONTH, 1), date(year + 1, SCHOOL_YEAR_START_MONTH,
                                                        1) - timedelta(days=1)


def default_periods(year: int) -> list[tuple[KeyPeriodKind, str, date, date]]:
    """The key periods a school watches in a usual school year starting in September
    ``year`` (seed 002), as (kind, name, first day, last day); a school moves, renames or
    removes them to fit its own calendar, and adds its major events (重大活动前后), of which
    there is none by default. The names are the school's own words, in Chinese."""
    y, n = year, year + 1
    k = KeyPeriodKind
    return [
        (k.TERM_START, f"{y}年秋季开学前后", date(y, 8, 25), date(y, 9, 14)),
        (k.FRESHMEN, f"{y}级新生入学后", date(y, 9, 1), date(y, 9, 30)),
        (k.SEASON_CHANGE, f"{y}年秋冬季节交替前后", date(y, 10, 20), date(y, 11, 20)),
        (k.EXAMS, f"{y}—{n}学年第一学期期末考试前后", date(n, 1, 5), date(n, 1, 20)),
        (k.HOLIDAYS, f"{n}年寒假放假前后", date(n, 1, 12), date(n, 1, 31)),
        (k.TERM_START, f"{n}年春季开学前后", date(n, 2, 12), date(n, 3, 5)),
        (k.SEASON_CHANGE, f"{n}年冬春季节交替前后", date(n, 3, 1), date(n, 4, 15)),
        (k.GRADUATION, f"{n}届毕业生离校前", date(n, 6, 1), date(n, 6, 30)),
        (k.EXAMS, f"{y}—{n}学年第二学期期末考试前后", date(n, 6, 20), date(n, 7, 5)),
        (k.HOLIDAYS, f"{n}年暑假放假前后", date(n, 7, 1), date(n, 7, 15)),
    ]


def default_calendar(school_id: int, year: int) -> list[KeyPeriod]:
    """Add to school ``school_id`` the default key periods of school year ``year`` (this
    one or the next) that it does not have yet, and return them; the caller commits.

    A period of the same kind whose days overlap a default's stands for it (the school
    moved or renamed it), so a second call adds nothing.
    """
    school = db.scalar(select(Organisation).where(Organisation.id == school_id)
                       .with_for_update())  # one school's calendar is filled once at a time
    if school is None or school.kind != OrgKind.SCHOOL:
        raise InvalidInput({"school": _l("must be a school")})
    this_year = school_year_of(local_today())
    if year not in (this_year, this_year + 1):
        raise InvalidInput({"year": _l("only this school year (%(this)d) or the next "
                                       "(%(next)d)", this=this_year, next=this_year + 1)})
    added = []
    for kind, name, starts_on, ends_on in default_periods(year):
        standing = db.scalar(select(KeyPeriod.id).where(
            KeyPeriod.school_id == school_id, KeyPeriod.kind == kind,
            KeyPeriod.starts_on <= ends_on, KeyPeriod.ends_on >= starts_on).limit(1))
        if standing is None:
            period = KeyPeriod(school_id=school_id, kind=kind, name=name, starts_on=starts_on,
                               ends_on=ends_on)
            db.add(period)
            added.append(period)
    if added:
        db.flush()
        audit.record("key_period.defaults", school, changes={
            "year": {"new": year}, "key_period_ids": {"new": [p.id for p in added]}})
    return added


def school_key_periods(school_id: int, year: int) -> list[KeyPeriod]:
    """School ``school_id``'s key periods that start in school year ``year``, by date."""
    first, last = school_year_days(year)
    return list(db.scalars(select(KeyPeriod).where(
        KeyPeriod.school_id == school_id, KeyPeriod.starts_on.between(first, last))
        .order_by(KeyPeriod.starts_on, KeyPeriod.ends_on, KeyPeriod.id)))


def calendar_school(actor: User) -> Membership:
    """The reporter's school, whose key periods they read."""
    place = next((membership for membership in actor.memberships
                  if membership.organisation.kind == OrgKind.SCHOOL), None)
    if actor.role != Role.REPORTER or place is None:
        raise Forbidden(_l("only the school's reporters read its key periods"))
    return place


def key_periods(actor: User, year: int | None = None) -> list[KeyPeriod]:
    """The key periods ``actor`` may read that start in school year ``year`` (this one
    unless given), by date."""
    first, last = school_year_days(school_year_of(local_today()) if year is None else year)
    return list(db.scalars(visible(actor, KeyPeriod)
                           .where(KeyPeriod.starts_on.between(first, last))
                           .order_by(KeyPeriod.starts_on, KeyPeriod.ends_on, KeyPeriod.id)))


def calendar(actor: User, year: int | None = None) -> list[KeyPeriod]:
    """The reporter's school's key periods of school year ``year`` (this one unless given),
    as its calendar page shows them. The psychology centre teacher who opens this year or
    the next without any finds its defaults there (added, for the caller to commit)."""
    school_id = calendar_school(actor).organisation_id
    this_year = school_year_of(local_today())
    year = this_year if year is None else year
    periods = [period for period in key_periods(actor, year) if period.school_id == school_id]
    if not periods and year in (this_year, this_year + 1) and keeps_calendar(actor, school_id):
        default_calendar(school_id, year)
        periods = [period for period in key_periods(actor, year)
                   if period.school_id == school_id]
    return periods


_UNSET = object()


def add_period(actor: User, *, kind: str, name: str, starts_on: date | str | None,
               ends_on: date | str | None) -> KeyPeriod:
    """The psychology centre teacher adds a key period to their school's calendar. Dates
    may be given as ``YYYY-MM-DD`` (as a form posts them); each problem is named."""
    school_id = calendar_school(actor).organisation_id
    if not keeps_calendar(actor, school_id):
        raise Forbidden(KEEPS_CALENDAR)
    period = KeyPeriod(school_id=school_id)
    _set_period(period, kind=kind, name=name, starts_on=starts_on, ends_on=ends_on)
    db.add(period)
    db.flush()
    audit.record("key_period.create", period, changes=_period_changes(period))
    return period


def update_period(actor: User, period_id: int, *, kind=_UNSET, name=_UNSET,
                  starts_on=_UNSET, ends_on=_UNSET) -> KeyPeriod:
    """Change a key period's kind, name or days (those given); checked as when added."""
    period = _kept_period(actor, period_id)
    given = {field: value for field, value in (
        ("kind", kind), ("name", name), ("starts_on", starts_on), ("ends_on", ends_on))
        if value is not _UNSET}
    _set_period(period, **{"kind": period.kind.value, "name": period.name,
                           "starts_on": period.starts_on, "ends_on": period.ends_on, **given})
    changes = audit.diff(period)
    if changes:
        audit.record("key_period.update", period, changes=changes)
    return period


def remove_period(actor: User, period_id: int) -> None:
    """Take a key period off the school's calendar (reviews it created stay due)."""
    period = _kept_period(actor, period_id)
    audit.record("key_period.remove", object_type="key_period", object_id=period.id,
                 changes={field: {"old": change["new"]}
                          for field, change in _period_changes(period).items()})
    db.delete(period)


def _period_changes(period: KeyPeriod) -> dict:
    return {"kind": {"new": period.kind.value}, "name": {"new": period.name},
            "starts_on": {"new": period.starts_on.isoformat()},
            "ends_on": {"new": period.ends_on.isoformat()}}


def _kept_period(actor: User, period_id: int) -> KeyPeriod:
    """The key period ``actor`` may change."""
    period = db.get(KeyPeriod, period_id)
    missing = _l("%(record)s %(id)s does not exist", record=RECORD_LABELS["key_period"],
                 id=period_id)
    if period is None:
        raise NotFound(missing)
    if not can(actor, EDIT, period):
        if can(actor, VIEW, period):
            raise Forbidden(KEEPS_CALENDAR, object_type="key_period", object_id=period.id)
        raise Hidden(missing, object_type="key_period", object_id=period.id)
    return period


def _set_period(period: KeyPeriod, *, kind, name, starts_on, ends_on) -> None:
    """Check every field (refusing them all at once, changing nothing) and set them."""
    errors: dict = {}
    chosen = choice_named(KEY_PERIOD_KIND_LABELS, kind or "")
    if chosen is None:
        errors["kind"] = _l("choose one of the options offered")
    name = " ".join((name or "").split())
    if not name:
        errors["name"] = _l("give the period a name")
    elif len(name) > NAME_LENGTH:
        errors["name"] = _l("at most %(n)d characters", n=NAME_LENGTH)
    elif (problem := name_problem(name)) is not None:
        errors["name"] = problem
    first = _day(starts_on, "starts_on", errors, _l("choose the first day"))
    last = _day(ends_on, "ends_on", errors, _l("choose the last day"))
    if first is not None and last is not None and last < first:
        errors["ends_on"] = _l("cannot be before the first day")
    if errors:
        raise InvalidInput(errors)
    period.kind, period.name = KeyPeriodKind(chosen), name
    period.starts_on, period.ends_on = first, last


def _day(value, field: str, errors: dict, missing) -> date | None:
    """A period's day: a date within two years of today."""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip()) if value.strip() else None
        except ValueError:
            errors[field] = _l("a date, e.g. 2026-09-01")
            return None
    if value is None:
        errors[field] = missing
        return None
    if abs(value - local_today()) > FARTHEST:
        errors[field] = _l("must be within two years of today")
        return None
    return value


def start_due_periods(now: datetime | None = None) -> int:
    """Start the key periods whose first day has come (the school's date) and whose
    reviews were not created yet: each case of a student of the school in follow-up is
    due a key-period review within the policy's days (met by a follow-up contact); a case
    with one pending gets no second. Each student on the school's watch list whose next
    review is later is due within those days too (an earlier review date stays). Returns
    how many periods started; the caller commits.
    """
    now = now or utcnow()
    today = local_date(now)
    due = db.scalars(select(KeyPeriod).where(
        KeyPeriod.reviews_created_at.is_(None), KeyPeriod.starts_on <= today,
        KeyPeriod.ends_on >= today).order_by(KeyPeriod.starts_on, KeyPeriod.id)
        .with_for_update(skip_locked=True)).all()
    for period in due:
        period.reviews_created_at = now
        reviewed = []
        for case in db.scalars(select(Case).where(
                Case.state == "follow_up",
                Case.student_id.in_(select(Student.id).where(
                    Student.school_id == period.school_id))).order_by(Case.id)):
            if not deadlines.pending(case, "key_period_review"):
                deadlines.schedule(case, "key_period_review", after=now)
                reviewed.append(case.id)
        review_by = today + timedelta(days=policy().key_period_review_days)
        brought_forward = []
        for entry in db.scalars(select(WatchListEntry).where(
                WatchListEntry.school_id == period.school_id,
                WatchListEntry.on_list_key.is_not(None),
                WatchListEntry.next_review_on > review_by).order_by(WatchListEntry.id)):
            entry.next_review_on = review_by
            brought_forward.append(entry.id)
        audit.record("key_period.start", period, actor="system",
                     changes={"reviews": {"new": reviewed},
                              "watch_list_entry_ids": {"new": brought_forward}})
    return len(due)
