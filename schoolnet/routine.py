"""The routine reports that go up the four-level network, and the silence that is an alert.

A class's psychological committee member files a weekly class report (twice a week during
the school's key periods; 班级心理基本情况:
学习、生活、交往、情感, and the students to watch, each of which can become an at-risk report);
a department head files a monthly department report. One per unit and period. A report that
has not arrived by the end of its period plus the policy's grace alerts the level above
(the class's 辅导员 and department head, or the school's psychology centre), once; the
compliance view shows, period by period, who reported.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from casework import alerts
from casework.models import Student
from casework.policy import policy
from crisisline import audit
from crisisline.access.rules import school_centre_id, schools_served_by
from crisisline.accounts.models import (Membership, Organisation, OrgKind, ReporterIdentity,
                                        Role, SchoolUnit, UnitKind, User)
from crisisline.database import db, utcnow
from crisisline.errors import Conflict, Forbidden, InvalidInput, NotFound
from crisisline.i18n import IDENTITY_LABELS
from schoolnet import services
from schoolnet.access import reach, units_under
from schoolnet.models import KeyPeriod, MissedRoutineReport, RoutineKind, RoutineReport

AREAS = ("study", "life", "relationships", "emotions")
# who files each kind, from which kind of unit
FILERS = {RoutineKind.WEEKLY_CLASS: (ReporterIdentity.CLASS_COMMITTEE, {UnitKind.CLASS}),
          RoutineKind.MONTHLY_DEPARTMENT: (ReporterIdentity.DEPARTMENT_HEAD,
                                           {UnitKind.DEPARTMENT, UnitKind.GRADE})}
MISSED_ALERTS = {RoutineKind.WEEKLY_CLASS: alerts.MISSED_WEEKLY_CLASS_REPORT,
                 RoutineKind.MONTHLY_DEPARTMENT: alerts.MISSED_MONTHLY_DEPARTMENT_REPORT}


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # the last day, included

    def due_at(self) -> datetime:
        """When the report is late: the end of the period, where the school is, plus the
        policy's grace."""
        zone = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
        end = datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=zone)
        return end + timedelta(hours=policy().routine_report_grace_hours)


def period_of(kind: RoutineKind, day: date, school_id: int) -> Period:
    """The reporting period of ``kind`` that ``day`` falls in at a school: a calendar month,
    or a week from Monday to Sunday; during one of the school's key periods a class
    reports ``key_period_class_reports_per_week`` times a week (a week split evenly)."""
    if kind == RoutineKind.MONTHLY_DEPARTMENT:
        last = calendar.monthrange(day.year, day.month)[1]
        return Period(day.replace(day=1), day.replace(day=last))
    monday = day - timedelta(days=day.weekday())
    parts = policy().key_period_class_reports_per_week if in_key_period(school_id, day) else 1
    starts = sorted({round(n * 7 / parts) for n in range(parts)}) + [7]
    first = max(start for start in starts[:-1] if start <= day.weekday())
    after = starts[starts.index(first) + 1]
    return Period(monday + timedelta(days=first), monday + timedelta(days=after - 1))


def in_key_period(school_id: int, day: date) -> bool:
    """Is ``day`` within one of the school's key periods (重要时段)?"""
    return db.scalar(select(KeyPeriod.id).where(
        KeyPeriod.school_id == school_id, KeyPeriod.starts_on <= day,
        KeyPeriod.ends_on >= day).limit(1)) is not None


def periods_back(kind: RoutineKind, day: date, count: int, school_id: int) -> list[Period]:
    """The ``count`` periods up to the one ``day`` falls in, oldest first."""
    periods = [period_of(kind, day, school_id)]
    while len(periods) < count:
        periods.insert(0, period_of(kind, periods[0].start - timedelta(days=1), school_id))
    return periods


def last_due_period(kind: RoutineKind, now: datetime, school_id: int) -> Period:
    """The latest period whose report is late by ``now`` if it has not arrived."""
    zone = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    day = (now.astimezone(zone) - timedelta(hours=policy().routine_report_grace_hours)).date()
    period = period_of(kind, day - timedelta(days=1), school_id)
    if period.end >= day:
        period = period_of(kind, period.start - timedelta(days=1), school_id)
    return period


# -- filing ----------------------------------------------------------------------------------

def file_routine_report(actor: User, *, kind: str, study: str = "", life: str = "",
                        relationships: str = "", emotions: str = "", watch=(),
                        period_start: date | None = None) -> RoutineReport:
    """File the routine report of ``actor``'s unit for the period now running (or, late,
    an earlier one). Each student to watch with ``at_risk`` becomes an at-risk report."""
    if kind not in {k.value for k in RoutineKind}:
        raise InvalidInput({"kind": _l("choose one of the options offered")})
    kind = RoutineKind(kind)
    place = services.school_place(actor)
    identity, unit_kinds = FILERS[kind]
    if actor.reporter_identity != identity or place.unit is None or \
            place.unit.kind not in unit_kinds:
        raise Forbidden(_l("only the %(who)s files this report", who=_filer_label(kind)))
    today = services.local_today()
    period = period_of(kind, period_start or today, place.organisation_id)
    areas = {"study": study, "life": life, "relationships": relationships,
             "emotions": emotions}
    errors = {name: _l("write a few words, even if all is well")
              for name, text in areas.items() if not (text or "").strip()}
    if period_start is not None and (period_start != period.start or period_start > today):
        errors["period_start"] = _l("must be the first day of a period that has begun")
    watched, watch_errors = _watched_students(place.unit, watch)
    errors.update(watch_errors)
    if errors:
        raise InvalidInput(errors)
    report = RoutineReport(school_id=place.organisation_id, unit_id=place.unit_id, kind=kind,
                           period_start=period.start, period_end=period.end,
                           filed_by_id=actor.id,
                           **{name: text.strip() for name, text in areas.items()})
    first = services.add_once(report, select(RoutineReport).where(
        RoutineReport.unit_id == place.unit_id, RoutineReport.kind == kind,
        RoutineReport.period_start == period.start))
    if first is not None:
        raise Conflict(_l("this period's report has been filed: report #%(id)d", id=first.id),
                       first={"id": first.id, "period_start": first.period_start.isoformat()})
    entries = []
    for student, note, at_risk in watched:
        entry = {"student_id": student.id, "note": note}
        if at_risk:
            entry["school_report_id"] = services.file_report(
                actor, kind="at_risk", note=note, student_id=student.id).id
        entries.append(entry)
    report.watch = entries
    db.flush()
    audit.record("routine_report.create", report, changes={
        "kind": {"new": kind.value}, "unit_id": {"new": report.unit_id},
        "period_start": {"new": period.start.isoformat()}})
    return report


def _watched_students(unit: SchoolUnit, watch) -> tuple[list, dict]:
    """The students to watch, each of the reporter's unit, with a note; the first problem
    names its row."""
    found, units = [], units_under(unit.school_id, unit.id)
    for n, item in enumerate(watch or (), start=1):
        student = None
        if item.get("student_id") is not None:
            student = db.get(Student, item["student_id"])
        elif (item.get("student_number") or "").strip():
            student = db.scalar(select(Student).where(
                Student.school_id == unit.school_id,
                Student.student_number == item["student_number"].strip()))
        if student is None or student.school_id != unit.school_id or \
                student.class_unit_id not in units:
            problem = _l("must be a student of your class or department")
        elif not (item.get("note") or "").strip():
            problem = _l("say what you saw")
        else:
            found.append((student, item["note"].strip(), bool(item.get("at_risk"))))
            continue
        return [], {"watch": _l("student %(n)d: %(problem)s", n=n, problem=problem)}
    return found, {}


def _filer_label(kind: RoutineKind):
    return IDENTITY_LABELS[FILERS[kind][0].value]


def my_periods(actor: User, kind: RoutineKind
               ) -> list[tuple[Period, RoutineReport | None]] | None:
    """For a filer of ``kind``: the period before this one (still to be filed late) and the
    one now running, each with their unit's report for it if it came; None for others."""
    place = services.school_place(actor)
    identity, unit_kinds = FILERS[kind]
    if actor.reporter_identity != identity or place.unit is None or \
            place.unit.kind not in unit_kinds:
        return None
    periods = periods_back(kind, services.local_today(), 2, place.organisation_id)
    filed = {report.period_start: report for report in db.scalars(select(RoutineReport).where(
        RoutineReport.unit_id == place.unit_id, RoutineReport.kind == kind,
        RoutineReport.period_start.in_([period.start for period in periods])))}
    return [(period, filed.get(period.start)) for period in periods]


def my_period(actor: User, kind: RoutineKind) -> tuple[Period, RoutineReport | None] | None:
    """The period now running for a filer of ``kind``, and their unit's report for it."""
    periods = my_periods(actor, kind)
    return periods[-1] if periods else None


# -- silence ---------------------------------------------------------------------------------

def expected_units(school_id: int, kind: RoutineKind) -> dict[int, list[User]]:
    """The units that owe ``kind`` (those with an active filer), with their filers."""
    identity, unit_kinds = FILERS[kind]
    owed: dict[int, list[User]] = {}
    for user, unit_id in db.execute(
            select(User, Membership.unit_id).join(Membership).join(
                SchoolUnit, SchoolUnit.id == Membership.unit_id)
            .where(Membership.organisation_id == school_id, User.role == Role.REPORTER,
                   User.reporter_identity == identity, User.disabled_at.is_(None),
                   SchoolUnit.kind.in_(unit_kinds))):
        owed.setdefault(unit_id, []).append(user)
    return owed


def alert_missing_reports(now: datetime | None = None) -> int:
    """Every unit whose routine report of the latest due period has not arrived: the level
    above is alerted, once per unit and period. The caller commits."""
    now = now or utcnow()
    alerted = 0
    for school_id in db.scalars(select(Organisation.id).where(
            Organisation.kind == OrgKind.SCHOOL)):
        for kind in RoutineKind:
            period = last_due_period(kind, now, school_id)
            owed = expected_units(school_id, kind)
            if not owed:
                continue
            done = set(db.scalars(select(RoutineReport.unit_id).where(
                RoutineReport.unit_id.in_(owed), RoutineReport.kind == kind,
                RoutineReport.period_start == period.start)))
            done |= set(db.scalars(select(MissedRoutineReport.unit_id).where(
                MissedRoutineReport.unit_id.in_(owed), MissedRoutineReport.kind == kind,
                MissedRoutineReport.period_start == period.start)))
            for unit_id in sorted(set(owed) - done):
                if _mark_missed(unit_id, kind, period):
                    alerts.raise_alerts(MISSED_ALERTS[kind], level_above(school_id, unit_id),
                                        unit_id=unit_id)
                    alerted += 1
    return alerted


def _mark_missed(unit_id: int, kind: RoutineKind, period: Period) -> bool:
    """Record the miss; False if another worker recorded it first."""
    try:
        with db.begin_nested():
            missed = MissedRoutineReport(unit_id=unit_id, kind=kind, period_start=period.start)
            db.add(missed)
    except IntegrityError:
        return False
    audit.record("routine_report.missed", missed, actor="system", changes={
        "kind": {"new": kind.value}, "unit_id": {"new": unit_id},
        "period_start": {"new": period.start.isoformat()}})
    return True


def level_above(school_id: int, unit_id: int) -> list[User]:
    """Who hears that a unit's report is missing: the 辅导员 and department heads of the
    units above it, or, when there are none, the school's psychology centre."""
    ancestors, unit = [], db.get(SchoolUnit, unit_id)
    while unit.parent_id is not None:
        unit = db.get(SchoolUnit, unit.parent_id)
        ancestors.append(unit.id)
    places = select(Membership.user_id).where(Membership.organisation_id == school_id)
    active = (User.role == Role.REPORTER) & User.disabled_at.is_(None)
    above = db.scalars(select(User).where(active, User.id.in_(
        places.where(Membership.unit_id.in_(ancestors))), User.reporter_identity.in_(
        (ReporterIdentity.COUNSELOR_TEACHER, ReporterIdentity.DEPARTMENT_HEAD)))).all()
    return list(above) or list(db.scalars(select(User).where(
        active, User.id.in_(places),
        User.reporter_identity == ReporterIdentity.PSYCHOLOGY_CENTRE)))


# -- compliance ------------------------------------------------------------------------------

ON_TIME, LATE, MISSING, RUNNING, NOT_OWED = "on_time", "late", "missing", "running", "not_owed"


@dataclass
class ComplianceRow:
    unit: SchoolUnit
    cells: list[tuple[str, RoutineReport | None]]  # a status per period


def compliance(actor: User, kind: RoutineKind, *, school_id: int | None = None,
               count: int = 8, now: datetime | None = None
               ) -> tuple[Organisation, list[Period], list[ComplianceRow]]:
    """Who reported, period by period, in the part of a school ``actor`` oversees: the
    school's psychology centre and its centre's supervisors the whole school, a 辅导员 or
    department head their units. A reporter sees their own school; a supervisor the one
    asked for (by default the first their centre serves)."""
    now = now or utcnow()
    if school_id is None:
        school_id = services.school_place(actor).organisation_id \
            if actor.role == Role.REPORTER else db.scalar(
                select(Organisation.id).where(Organisation.id.in_(schools_served_by(
                    actor.centre_ids))).order_by(Organisation.name).limit(1))
    school = db.get(Organisation, school_id) if school_id is not None else None
    if school is None or school.kind != OrgKind.SCHOOL:
        raise NotFound(_l("no such school"))
    units = _overseen_units(actor, school_id)
    identity, unit_kinds = FILERS[kind]
    rows_units = db.scalars(select(SchoolUnit).where(
        SchoolUnit.school_id == school_id, SchoolUnit.kind.in_(unit_kinds),
        *([SchoolUnit.id.in_(units)] if units is not None else []))).all()
    rows_units = sorted(rows_units, key=lambda unit: unit.path)
    periods = periods_back(kind, services.local_today(), count, school_id)
    owed = expected_units(school_id, kind)
    filed = {(report.unit_id, report.period_start): report for report in db.scalars(
        select(RoutineReport).where(RoutineReport.school_id == school_id,
                                    RoutineReport.kind == kind,
                                    RoutineReport.period_start >= periods[0].start))}
    rows = []
    for unit in rows_units:
        cells = []
        for period in periods:
            report = filed.get((unit.id, period.start))
            if report is not None:
                status = ON_TIME if report.created_at <= period.due_at() else LATE
            elif unit.id not in owed:
                status = NOT_OWED
            else:
                status = MISSING if now >= period.due_at() else RUNNING
            cells.append((status, report))
        rows.append(ComplianceRow(unit, cells))
    return school, periods, rows


def oversees(actor: User) -> bool:
    """Does ``actor`` see who reported (the compliance view)?"""
    if actor.role == Role.SUPERVISOR:
        return True
    return reach(actor) is not None and actor.reporter_identity not in (
        ReporterIdentity.CLASS_COMMITTEE, ReporterIdentity.HEAD_TEACHER)


def _overseen_units(actor: User, school_id: int) -> set[int] | None:
    """The units ``actor`` oversees in the school (None: all of them)."""
    if actor.role == Role.SUPERVISOR and school_centre_id(school_id) in actor.centre_ids:
        return None
    covering = reach(actor)
    if actor.role == Role.SUPERVISOR or not oversees(actor) or \
            covering.school_id != school_id:
        raise Forbidden(_l("only the school's psychology centre, its departments and the "
                           "centre's supervisors see who reported"))
    return None if covering.whole_school else set(covering.unit_ids)
