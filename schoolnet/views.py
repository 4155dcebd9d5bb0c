"""The school network's pages: the reporter's page (on a phone), and a report's page with
the centre's handling; the consoles list the open reports (``_open_reports.html``)."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select

from casework.models import Case, FollowUpContact, Student
from crisisline import audit
from crisisline.access.rules import EDIT, can, visible
from crisisline.access.services import open_record
from crisisline.accounts.models import Role
from crisisline.accounts.security import require_role
from crisisline.database import db
from crisisline.pages import form_id, save
from schoolnet import services
from schoolnet.models import SchoolReport

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
    cases = {case.id: case for case in db.scalars(visible(current_user, Case))}
    follow_up_cases = {case.id: case for case in db.scalars(select(Case).where(
        Case.id.in_({follow_up.case_id for follow_up in follow_ups})))}
    return render_template("schoolnet/reporter_home.html", place=place, due=due,
                           students=students, reports=mine, reached=reached,
                           follow_ups=follow_ups, follow_up_cases=follow_up_cases,
                           cases=cases)


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
    if case is None:
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
