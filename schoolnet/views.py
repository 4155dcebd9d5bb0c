"""The school network's pages: the reporter's page (on a phone), a report's page with the
centre's handling, and the school's calendar of key periods; the consoles list the open
reports (``_open_reports.html``)."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select

from casework.models import FollowUpContact, Student
from casework.services import my_alerts
from crisisline import audit
from crisisline.access.rules import EDIT, VIEW, can, schools_served_by, visible
from casework.policy import policy
from crisisline.access.services import open_record
from crisisline.accounts.models import Organisation, Role
from crisisline.accounts.security import require_role
from crisisline.database import db
from crisisline.errors import InvalidInput
from crisisline.pages import form_id, save
from crisisline.validation import EARLIEST_YEAR, LATEST_YEAR
from schoolnet import routine, services
from schoolnet.access import keeps_calendar
from schoolnet.models import KeyPeriodKind, RoutineKind, SchoolReport

blueprint = Blueprint("schoolnet", __name__, template_folder="templates")


@blueprint.route("/school")
@require_role(Role.REPORTER)
def reporter_home():
    due = services.students_due_today(current_user)
    place = services.school_place(current_user)
    # the students this reporter has reported on and who are still at their school (one
    # who moved school took the file along), and those due today; others by student number
    known = db.scalars(select(Student).where(
        Student.id.in_(select(SchoolReport.student_id).where(
            SchoolReport.reported_by_id == current_user.id)),
        Student.school_id == place.organisation_id)).all()
    students = sorted({student.id: student for student in [*known, *due]}.values(),
                      key=lambda student: student.student_number)
    reports = db.scalars(visible(current_user, SchoolReport)
                         .order_by(SchoolReport.created_at.desc()).limit(100)).all()
    mine = [report for report in reports if report.reported_by_id == current_user.id]
    reached = [report for report in reports if report.reported_by_id != current_user.id]
    follow_ups = db.scalars(visible(current_user, FollowUpContact)
                            .order_by(FollowUpContact.occurred_at.desc()).limit(50)).all()
    if reached or follow_ups:  # others' records about students: each reading is audited
        audit.record("school_report.list", object_type="school_report", changes={
            "school_report_ids": {"new": [report.id for report in reached]},
            "follow_up_ids": {"new": [follow_up.id for follow_up in follow_ups]}})
        db.commit()
    routines = {kind: routine.my_period(current_user, kind) for kind in RoutineKind}
    today = services.local_today()
    running = [period for period in services.key_periods(current_user)
               if period.school_id == place.organisation_id
               and period.starts_on <= today <= period.ends_on]
    return render_template("schoolnet/reporter_home.html", place=place, due=due,
                           students=students, reports=mine, reached=reached,
                           follow_ups=follow_ups,
                           alerts=my_alerts(current_user),
                           routines={kind: mine for kind, mine in routines.items() if mine},
                           oversees=routine.oversees(current_user),
                           running_periods=running)


@blueprint.route("/school/reports", methods=["POST"])
@require_role(Role.REPORTER)
def file_report():
    form = request.form
    if save(lambda: services.file_report(
            current_user, kind=form.get("kind", ""), note=form.get("note", ""),
            student_id=form_id(form.get("student_id")),
            student_number=form.get("student_number", "").strip() or None),
            _l("Report filed.")) is None:
        return reporter_home(), 422  # refused: the page again, as typed
    return redirect(url_for("schoolnet.reporter_home"))


@blueprint.route("/school-reports/<int:record_id>")
@login_required
def report_page(record_id: int):
    report = open_record(current_user, "school_report", record_id)
    db.commit()
    return render_template("schoolnet/report.html", report=report,
                           may_handle=can(current_user, EDIT, report))


@blueprint.route("/school-reports/<int:report_id>/take", methods=["POST"])
@require_role(Role.COUNSELOR, Role.SUPERVISOR)
def take(report_id: int):
    save(lambda: services.take(current_user, report_id), _l("The report is yours to handle."))
    return redirect(url_for("schoolnet.report_page", record_id=report_id))


@blueprint.route("/school-reports/<int:report_id>/open-case", methods=["POST"])
@require_role(Role.COUNSELOR, Role.SUPERVISOR)
def open_case(report_id: int):
    case = save(lambda: services.open_case(
        current_user, report_id, risk_level=request.form.get("risk_level", "high")),
        _l("The report is now part of a case."))
    if case is None or not can(current_user, VIEW, case):  # refused, or another's case
        return redirect(url_for("schoolnet.report_page", record_id=report_id))
    return redirect(url_for("casework.case_page", record_id=case.id))


@blueprint.route("/school-reports/<int:report_id>/close", methods=["POST"])
@require_role(Role.COUNSELOR, Role.SUPERVISOR)
def close(report_id: int):
    if save(lambda: services.close(current_user, report_id,
                                   reason=request.form.get("reason", "")),
            _l("The report is closed.")) is None:
        return report_page(report_id), 422  # refused: the page again, the reason as typed
    return redirect(url_for("schoolnet.report_page", record_id=report_id))


WATCH_ROWS = 3  # blank rows for students to watch on the routine report form


@blueprint.route("/school/routine/<kind>", methods=["GET", "POST"])
@require_role(Role.REPORTER)
def routine_report(kind: str):
    if kind not in {k.value for k in RoutineKind}:
        abort(404)
    kind = RoutineKind(kind)
    if request.method == "POST":
        form = request.form  # a row per student to watch; "at risk" ticks carry the row
        ticked = set(form.getlist("watch_at_risk"))
        watch = [{"student_number": number.strip(), "note": note, "at_risk": str(n) in ticked}
                 for n, (number, note) in enumerate(zip(form.getlist("watch_student_number"),
                                                        form.getlist("watch_note")))]
        if save(lambda: routine.file_routine_report(
                current_user, kind=kind.value,
                **{area: form.get(area, "") for area in routine.AREAS},
                watch=[item for item in watch if item["student_number"] or item["note"]],
                period_start=_form_date("period_start")),
                _l("Report filed.")) is not None:
            return redirect(url_for("schoolnet.reporter_home"))
    periods = routine.my_periods(current_user, kind)
    return render_template("schoolnet/routine_report.html", kind=kind, periods=periods,
                           watch_rows=WATCH_ROWS), 422 if request.method == "POST" else 200


def _form_date(field: str) -> date | None:
    """A date chosen in the form (None when none was), or a refusal naming the field."""
    raw = request.form.get(field, "")
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        raise InvalidInput({field: _l("choose one of the options offered")}) from None


@blueprint.route("/school/compliance")
@require_role(Role.REPORTER, Role.SUPERVISOR)
def compliance():
    kind = request.args.get("kind", RoutineKind.WEEKLY_CLASS.value)
    kind = RoutineKind(kind) if kind in {k.value for k in RoutineKind} else \
        RoutineKind.WEEKLY_CLASS
    school, periods, rows = routine.compliance(current_user, kind,
                                               school_id=form_id(request.args.get("school")))
    schools = db.scalars(select(Organisation).where(Organisation.id.in_(
        schools_served_by(current_user.centre_ids))).order_by(Organisation.name)).all() \
        if current_user.role == Role.SUPERVISOR else []
    return render_template("schoolnet/compliance.html", kind=kind, school=school,
                           periods=periods, rows=rows, schools=schools)

# -- key periods ------------------------------------------------------------------------------

def _year() -> int | None:
    """The school year asked for (``?year=``, or the form's), if it is one."""
    raw = request.values.get("year", "")
    return int(raw) if raw.isdigit() and EARLIEST_YEAR <= int(raw) < LATEST_YEAR else None


@blueprint.route("/school/key-periods")
@require_role(Role.REPORTER)
def key_periods_page():
    """The school's key periods of a school year: every reporter of the school reads them,
    its psychology centre teacher keeps them (the first visit to this school year or the
    next without any finds the defaults)."""
    place = services.calendar_school(current_user)
    year = _year() or services.school_year_of(services.local_today())
    periods = services.calendar(current_user, year)
    db.commit()  # the defaults, when this visit added them
    return render_template("schoolnet/key_periods.html", place=place, year=year,
                           periods=periods, today=services.local_today(),
                           kinds=[kind.value for kind in KeyPeriodKind],
                           may_edit=keeps_calendar(current_user, place.organisation_id),
                           review_days=policy().key_period_review_days)


def _period_fields() -> dict:
    form = request.form
    return {name: form.get(name, "") for name in ("kind", "name", "starts_on", "ends_on")}


def _to_calendar(period=None):
    year = services.school_year_of(period.starts_on) if period is not None else _year()
    return redirect(url_for("schoolnet.key_periods_page", year=year))


@blueprint.route("/school/key-periods", methods=["POST"])
@require_role(Role.REPORTER)
def add_key_period():
    period = save(lambda: services.add_period(current_user, **_period_fields()),
                  _l("Key period added."))
    if period is None:
        return key_periods_page(), 422  # refused: the page again, as typed
    return _to_calendar(period)


@blueprint.route("/school/key-periods/<int:period_id>", methods=["POST"])
@require_role(Role.REPORTER)
def change_key_period(period_id: int):
    period = save(lambda: services.update_period(current_user, period_id, **_period_fields()),
                  _l("Key period saved."))
    if period is None:
        return key_periods_page(), 422
    return _to_calendar(period)


@blueprint.route("/school/key-periods/<int:period_id>/remove", methods=["POST"])
@require_role(Role.REPORTER)
def remove_key_period(period_id: int):
    save(lambda: services.remove_period(current_user, period_id), _l("Key period removed."))
    return _to_calendar()
