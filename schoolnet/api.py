"""The school network's JSON API: filing reports, and the centre handling them; the
schools' key periods; screening campaigns, their warnings, and the watch list."""
from __future__ import annotations

from flask import jsonify, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_smorest import Blueprint

from casework.api import case_detail
from casework.models import FollowUpContact
from casework.schemas import CaseDetail
from crisisline import audit
from crisisline.access.rules import VIEW, can, visible
from crisisline.access.services import open_record
from crisisline.database import db
from crisisline.errors import InvalidInput
from crisisline.imports import ImportRefused, kept_upload
from schoolnet import routine, screening, services, watch_list
from schoolnet.views import bounded_size
from schoolnet.models import ReportStatus, RoutineKind, RoutineReport, SchoolReport
from schoolnet.schemas import (AssessmentIn, CampaignIn, CampaignOut, FunnelOut, InterviewIn,
                               MeetingIn, MeetingOut, ResultsIn, ResultsOut, ReviewIn,
                               ReviewOut, WarningOut, WatchEntryOut, WatchListQuery,
                               CloseIn, ComplianceQuery, DueStudentOut, KeyPeriodChange,
                               KeyPeriodIn, KeyPeriodOut, KeyPeriodQuery, OpenCaseIn,
                               ReportQuery, RoutineReportIn, RoutineReportOut,
                               SchoolFollowUpOut, SchoolReportIn, SchoolReportOut)

blueprint = Blueprint("schoolnet_api", __name__, url_prefix="/api",
                      description="Reports from the school network, and their handling")


blueprint.before_request(bounded_size)


@blueprint.route("/school-reports", methods=["POST"])
@blueprint.arguments(SchoolReportIn)
@blueprint.response(201, SchoolReportOut)
@login_required
def file_report(data):
    report = services.file_report(current_user, **data)
    db.commit()
    return report


@blueprint.route("/school-reports", methods=["GET"])
@blueprint.arguments(ReportQuery, location="query")
@blueprint.response(200, SchoolReportOut(many=True))
@login_required
def list_reports(query):
    """The reports the caller may read; ``status=open``: the at-risk reports still to be
    handled, oldest first."""
    if query["status"] == "open":
        reports = services.open_reports(current_user)
    else:
        select_reports = visible(current_user, SchoolReport).order_by(
            SchoolReport.created_at.desc()).limit(200)
        if query["status"]:
            select_reports = select_reports.where(
                SchoolReport.status == ReportStatus(query["status"]))
        reports = db.scalars(select_reports).all()
    audit.record("school_report.list", object_type="school_report", changes={
        "school_report_ids": {"new": [report.id for report in reports]}})
    db.commit()
    return reports


@blueprint.route("/school-reports/<int:record_id>")
@blueprint.response(200, SchoolReportOut)
@login_required
def read_report(record_id: int):
    report = open_record(current_user, "school_report", record_id)
    db.commit()
    return report


@blueprint.route("/school-reports/<int:report_id>/take", methods=["POST"])
@blueprint.response(200, SchoolReportOut)
@login_required
def take_report(report_id: int):
    report = services.take(current_user, report_id)
    db.commit()
    return report


@blueprint.route("/school-reports/<int:report_id>/open-case", methods=["POST"])
@blueprint.arguments(OpenCaseIn)
@blueprint.response(201, CaseDetail)
@login_required
def open_case(data, report_id: int):
    """The case opened for the report, or the student's open case it joined: in full if the
    caller may read that case, else only its number (another counselor's case)."""
    case = services.open_case(current_user, report_id, **data)
    db.commit()
    if can(current_user, VIEW, case):
        return case_detail(case)
    answer = jsonify(id=case.id, joined=True)
    answer.status_code = 201
    return answer


@blueprint.route("/school-reports/<int:report_id>/close", methods=["POST"])
@blueprint.arguments(CloseIn)
@blueprint.response(200, SchoolReportOut)
@login_required
def close_report(data, report_id: int):
    report = services.close(current_user, report_id, **data)
    db.commit()
    return report


@blueprint.route("/school-follow-ups")
@blueprint.response(200, SchoolFollowUpOut(many=True))
@login_required
def school_follow_ups():
    """The follow-up records of the caller's students, newest first: what a department
    and the school's psychology centre hold (一式2份)."""
    follow_ups = db.scalars(visible(current_user, FollowUpContact)
                            .order_by(FollowUpContact.occurred_at.desc()).limit(200)).all()
    audit.record("follow_up_contact.list", object_type="follow_up_contact", changes={
        "follow_up_ids": {"new": [follow_up.id for follow_up in follow_ups]}})
    db.commit()
    return follow_ups


@blueprint.route("/school-reports/due-today")
@blueprint.response(200, DueStudentOut(many=True))
@login_required
def due_today():
    """The reporter's students under daily reporting with no report for today yet."""
    return services.students_due_today(current_user)


@blueprint.route("/routine-reports", methods=["POST"])
@blueprint.arguments(RoutineReportIn)
@blueprint.response(201, RoutineReportOut)
@login_required
def file_routine_report(data):
    report = routine.file_routine_report(current_user, **data)
    db.commit()
    return report


@blueprint.route("/routine-reports", methods=["GET"])
@blueprint.response(200, RoutineReportOut(many=True))
@login_required
def list_routine_reports():
    """The routine reports the caller may read, newest first."""
    reports = db.scalars(visible(current_user, RoutineReport)
                         .order_by(RoutineReport.period_start.desc(), RoutineReport.id.desc())
                         .limit(200)).all()
    audit.record("routine_report.list", object_type="routine_report", changes={
        "routine_report_ids": {"new": [report.id for report in reports]}})
    db.commit()
    return reports


@blueprint.route("/routine-reports/compliance")
@blueprint.arguments(ComplianceQuery, location="query")
@login_required
def compliance(query):
    """Who reported, period by period: a status per unit and period (on_time, late,
    missing, running, not_owed), with the report's id when there is one."""
    school, periods, rows = routine.compliance(current_user, RoutineKind(query["kind"]),
                                               school_id=query["school"],
                                               count=query["periods"])
    return {"school": {"id": school.id, "name": school.name},
            "periods": [{"start": p.start.isoformat(), "end": p.end.isoformat()}
                        for p in periods],
            "rows": [{"unit": {"id": row.unit.id, "path": row.unit.path},
                      "cells": [{"status": status, "report_id": report.id if report else None}
                                for status, report in row.cells]} for row in rows]}
@blueprint.route("/key-periods", methods=["GET"])
@blueprint.arguments(KeyPeriodQuery, location="query")
@blueprint.response(200, KeyPeriodOut(many=True))
@login_required
def list_key_periods(query):
    """The key periods the caller may read (their school's; a supervisor's, of the schools
    their centre serves) that start in the school year (``year``: this one by default)."""
    return services.key_periods(current_user, query["year"])


@blueprint.route("/key-periods", methods=["POST"])
@blueprint.arguments(KeyPeriodIn)
@blueprint.response(201, KeyPeriodOut)
@login_required
def add_key_period(data):
    """Add a key period to the school's calendar (its psychology centre teacher)."""
    period = services.add_period(current_user, **data)
    db.commit()
    return period


@blueprint.route("/key-periods/<int:period_id>", methods=["PATCH"])
@blueprint.arguments(KeyPeriodChange)
@blueprint.response(200, KeyPeriodOut)
@login_required
def change_key_period(data, period_id: int):
    period = services.update_period(current_user, period_id, **data)
    db.commit()
    return period


@blueprint.route("/key-periods/<int:period_id>", methods=["DELETE"])
@blueprint.response(204)
@login_required
def remove_key_period(period_id: int):
    services.remove_period(current_user, period_id)
    db.commit()


# -- screening campaigns and the watch list ---------------------------------------------------

@blueprint.route("/screening-campaigns", methods=["POST"])
@blueprint.arguments(CampaignIn)
@blueprint.response(201, CampaignOut)
@login_required
def create_campaign(data):
    """Start a screening campaign (the school's psychology centre)."""
    campaign = screening.create_campaign(current_user, **data)
    db.commit()
    return campaign


@blueprint.route("/screening-campaigns", methods=["GET"])
@blueprint.response(200, CampaignOut(many=True))
@login_required
def list_campaigns():
    return screening.campaigns(current_user)


@blueprint.route("/screening-campaigns/<int:campaign_id>")
@blueprint.response(200, CampaignOut)
@login_required
def read_campaign(campaign_id: int):
    return screening.get_campaign(current_user, campaign_id)


@blueprint.route("/screening-campaigns/<int:campaign_id>/results", methods=["POST"])
@blueprint.arguments(ResultsIn, location="form")
@blueprint.response(201, ResultsOut)
@login_required
def import_results(data, campaign_id: int):
    """Import the results from a CSV (UTF-8 or GBK) or XLSX file (the multipart field
    ``file``): 学号 and 总分 (PHQ-9: and 第9题), or the items 第1题…. All rows or none: a
    refusal lists each problem by row and column."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise InvalidInput({"file": _l("attach the file (the multipart form field “file”)")})
    with kept_upload(upload) as path:
        report = screening.import_results(current_user, campaign_id, path,
                                          filename=upload.filename, dry_run=data["dry_run"])
    if not report.ok:
        raise ImportRefused(report)
    db.commit()
    return {"rows": report.rows, "created": report.counts["created"],
            "warnings": report.counted["warnings"], "urgent": report.counted["urgent"],
            "dry_run": data["dry_run"]}


@blueprint.route("/screening-campaigns/<int:campaign_id>/warnings")
@blueprint.response(200, WarningOut(many=True))
@login_required
def list_warnings(campaign_id: int):
    """The campaign's warnings the caller may read, urgent first (the read is audited)."""
    found = screening.warnings(current_user, campaign_id)
    db.commit()
    return found


@blueprint.route("/screening-campaigns/<int:campaign_id>/funnel")
@blueprint.response(200, FunnelOut)
@login_required
def campaign_funnel(campaign_id: int):
    """Screened → warned → interviewed → second warnings → graded by level → cases."""
    return screening.funnel(current_user, campaign_id)


@blueprint.route("/screening-warnings/<int:warning_id>")
@blueprint.response(200, WarningOut)
@login_required
def read_warning(warning_id: int):
    warning = screening.read_warning(current_user, warning_id)
    db.commit()
    return warning


@blueprint.route("/screening-warnings/<int:warning_id>/interview", methods=["POST"])
@blueprint.arguments(InterviewIn)
@blueprint.response(200, WarningOut)
@login_required
def interview(data, warning_id: int):
    warning = screening.interview(current_user, warning_id, **data)
    db.commit()
    return warning


@blueprint.route("/screening-warnings/<int:warning_id>/assessment", methods=["POST"])
@blueprint.arguments(AssessmentIn)
@blueprint.response(200, WarningOut)
@login_required
def assess(data, warning_id: int):
    """Grade a second warning: high or imminent opens a crisis case, low or moderate puts
    the student on the watch list. Before the interview: 409."""
    warning = screening.assess(current_user, warning_id, **data)
    db.commit()
    return warning


@blueprint.route("/watch-list")
@blueprint.arguments(WatchListQuery, location="query")
@blueprint.response(200, WatchEntryOut(many=True))
@login_required
def read_watch_list(query):
    """The students on the watch list the caller may see, the soonest review first."""
    found = watch_list.entries(current_user, query["school_id"])
    db.commit()
    return found


@blueprint.route("/watch-list/<int:entry_id>/reviews", methods=["POST"])
@blueprint.arguments(ReviewIn)
@blueprint.response(201, ReviewOut)
@login_required
def review_entry(data, entry_id: int):
    review = watch_list.review(current_user, entry_id, **data)
    db.commit()
    return review


@blueprint.route("/review-meetings", methods=["POST"])
@blueprint.arguments(MeetingIn)
@blueprint.response(201, MeetingOut)
@login_required
def hold_meeting(data):
    """Record a review meeting (研判会) and apply its decisions: all, or none."""
    meeting = watch_list.hold_meeting(current_user, **data)
    db.commit()
    return meeting
