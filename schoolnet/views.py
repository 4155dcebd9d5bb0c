"""The school network's pages: the reporter's page (on a phone), a report's page with the
centre's handling, the school's calendar of key periods, its screening campaigns (results,
warnings, interviews, assessments, the funnel) and its watch list; the consoles list the
open reports (``_open_reports.html``)."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
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
from crisisline.imports import UnreadableFile, kept_upload
from crisisline.messages import problem_line, shown
from crisisline.pages import form_id, save
from crisisline.validation import EARLIEST_YEAR, LATEST_YEAR
from schoolnet import routine, screening, services, watch_list
from schoolnet.access import is_psychology_centre, keeps_calendar
from schoolnet.models import (Instrument, KeyPeriodKind, RoutineKind, SchoolReport,
                              WatchDecision)

blueprint = Blueprint("schoolnet", __name__, template_folder="templates")
# a school's screening results are well under 1 MB; nothing the school network sends is more
MAX_UPLOAD_BYTES = 16 * 1024 * 1024


@blueprint.before_request
def bounded_size():
    """Refuse a body that is too large before anything reads it (a chunked one, while it is
    read)."""
    request.max_content_length = MAX_UPLOAD_BYTES
    if request.content_length is not None and request.content_length > MAX_UPLOAD_BYTES:
        abort(413)


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
    return _date(request.form.get(field, ""), field)


def _date(raw: str, field: str) -> date | None:
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


# -- screening campaigns and the watch list ---------------------------------------------------

SCREENING_ROLES = (Role.REPORTER, Role.COUNSELOR, Role.SUPERVISOR)


def _screening_schools() -> list[Organisation]:
    """The schools whose campaigns the page offers to start: the psychology centre's own."""
    return [membership.organisation for membership in current_user.memberships
            if is_psychology_centre(current_user, membership.organisation_id)]


@blueprint.route("/school/screening")
@require_role(*SCREENING_ROLES)
def campaigns_page():
    return render_template("schoolnet/campaigns.html",
                           campaigns=screening.campaigns(current_user),
                           schools=_screening_schools(), today=services.local_today(),
                           instruments=[instrument.value for instrument in Instrument])


@blueprint.route("/school/screening", methods=["POST"])
@require_role(Role.REPORTER)
def create_campaign():
    form = request.form
    campaign = save(lambda: screening.create_campaign(
        current_user, school_id=form_id(form.get("school_id")), name=form.get("name", ""),
        instrument=form.get("instrument", ""), started_on=_form_date("started_on"),
        scale_name=form.get("scale_name") or None, cut_off=_number("cut_off"),
        max_score=_number("max_score")), _l("Campaign started."))
    if campaign is None:
        return campaigns_page(), 422
    return redirect(url_for("schoolnet.campaign_page", campaign_id=campaign.id))


def _number(field: str) -> int | None:
    raw = request.form.get(field, "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 6:
        raise InvalidInput({field: _l("a whole number")})
    return int(raw)


@blueprint.route("/school/screening/<int:campaign_id>")
@require_role(*SCREENING_ROLES)
def campaign_page(campaign_id: int, problems=()):
    campaign = screening.get_campaign(current_user, campaign_id)
    warnings = screening.warnings(current_user, campaign.id)
    db.commit()  # the audited read
    return render_template(
        "schoolnet/campaign.html", campaign=campaign, warnings=warnings,
        funnel=screening.funnel(current_user, campaign.id)
        if screening.sees_funnel(current_user, campaign) else None, problems=problems,
        may_import=can(current_user, EDIT, campaign),
        may_interview=screening.may_interview(current_user),
        may_assess=screening.may_assess(current_user),
        today=services.local_today()), 422 if problems else 200


@blueprint.route("/school/screening/warnings/<int:warning_id>")
@require_role(*SCREENING_ROLES)
def warning_page(warning_id: int):
    """A warning, where it is worked: on its campaign's page (an alert links here)."""
    warning = screening.get_warning(current_user, warning_id)
    return redirect(url_for("schoolnet.campaign_page", campaign_id=warning.campaign_id,
                            _anchor=f"warning-{warning.id}"))


@blueprint.route("/school/screening/<int:campaign_id>/results", methods=["POST"])
@require_role(Role.REPORTER)
def import_results(campaign_id: int):
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return campaign_page(campaign_id, problems=[
            problem_line("file", _l("choose a CSV or XLSX file"))])
    with kept_upload(upload) as path:
        try:
            report = screening.import_results(current_user, campaign_id, path,
                                              filename=upload.filename)
        except UnreadableFile as unreadable:
            db.rollback()
            return campaign_page(campaign_id, problems=[
                problem_line(field, problem) for field, problem in unreadable.fields.items()])
    if not report.ok:
        db.rollback()
        return campaign_page(campaign_id, problems=[
            shown(_l("Nothing was imported: %(count)d problems", count=len(report.problems))),
            *(shown(problem.line()) for problem in report.problems[:200])])
    db.commit()
    flash(shown(_l("%(rows)d results imported: %(warnings)d warnings, %(urgent)d urgent.",
                   rows=report.rows, warnings=report.counted["warnings"],
                   urgent=report.counted["urgent"])), "success")
    return redirect(url_for("schoolnet.campaign_page", campaign_id=campaign_id))


@blueprint.route("/school/screening/warnings/<int:warning_id>/interview", methods=["POST"])
@require_role(Role.REPORTER)
def interview(warning_id: int):
    form = request.form
    warning = save(lambda: screening.interview(current_user, warning_id,
                                               outcome=form.get("outcome", ""),
                                               note=form.get("note", "")),
                   _l("Interview recorded."))
    return _back_to_campaign(warning_id, warning)


@blueprint.route("/school/screening/warnings/<int:warning_id>/assessment", methods=["POST"])
@require_role(Role.REPORTER, Role.COUNSELOR)
def assess(warning_id: int):
    form = request.form
    warning = save(lambda: screening.assess(
        current_user, warning_id, risk_level=form.get("risk_level", ""),
        plan=form.get("plan", ""), review_on=_form_date("review_on"),
        owner_id=form_id(form.get("owner_id"))), _l("Assessment recorded."))
    return _back_to_campaign(warning_id, warning)


def _back_to_campaign(warning_id: int, warning):
    """The campaign's page again: after a refusal (422) as typed, else at the warning."""
    if warning is None:
        shown_warning = screening.get_warning(current_user, warning_id)
        return campaign_page(shown_warning.campaign_id)[0], 422
    return redirect(url_for("schoolnet.campaign_page", campaign_id=warning.campaign_id,
                            _anchor=f"warning-{warning.id}"))


@blueprint.route("/school/watch-list")
@require_role(*SCREENING_ROLES)
def watch_list_page():
    entries = watch_list.entries(current_user, form_id(request.args.get("school")))
    db.commit()  # the audited read
    meets_for = {entry.school_id for entry in entries
                 if is_psychology_centre(current_user, entry.school_id)}
    return render_template("schoolnet/watch_list.html", entries=entries,
                           today=services.local_today(),
                           decisions=[decision.value for decision in WatchDecision],
                           may_review={entry.id for entry in entries
                                       if can(current_user, EDIT, entry)},
                           meeting_entries=[entry for entry in entries
                                            if entry.school_id in meets_for])


@blueprint.route("/school/watch-list/<int:entry_id>/reviews", methods=["POST"])
@require_role(Role.REPORTER)
def review_entry(entry_id: int):
    form = request.form
    done = save(lambda: watch_list.review(
        current_user, entry_id, decision=form.get("decision", ""), note=form.get("note", ""),
        risk_level=form.get("risk_level") or None,
        next_review_on=_form_date("next_review_on")), _l("Review recorded."))
    if done is None:
        return watch_list_page(), 422  # refused: the page again, as typed
    return redirect(url_for("schoolnet.watch_list_page"))


@blueprint.route("/school/review-meetings", methods=["POST"])
@require_role(Role.REPORTER)
def hold_meeting():
    """A review meeting (研判会) from the watch list page: the students given a decision."""
    form = request.form
    held = save(lambda: watch_list.hold_meeting(
        current_user, school_id=form_id(form.get("school_id")),
        held_on=_form_date("held_on"), note=form.get("note", ""),
        decisions=_meeting_decisions()), _l("Review meeting recorded."))
    if held is None:
        return watch_list_page(), 422  # refused: the page again, as typed
    return redirect(url_for("schoolnet.watch_list_page"))


def _meeting_decisions() -> list[dict]:
    """The meeting form's decisions: a row per listed student, those given one."""
    form = request.form
    rows = zip(form.getlist("entry_id"), form.getlist("decision"), form.getlist("raise_to"),
               form.getlist("next_review_on"), form.getlist("review_note"))
    return [{"entry_id": form_id(entry_id), "decision": decision, "note": note,
             "risk_level": raise_to or None, "next_review_on": _date(day, "next_review_on")}
            for entry_id, decision, raise_to, day, note in rows if decision]
