"""The school network's API shapes."""
from __future__ import annotations

import marshmallow as ma

from crisisline import validation
from schoolnet.models import KeyPeriodKind, ReportStatus


def _student(report) -> dict | None:
    student = report.student
    if student is None:
        return None
    return {"id": student.id, "name": student.name, "student_number": student.student_number,
            "class": student.class_unit.path if student.class_unit else None}


def _reporter(report) -> dict:
    """Who reported it, and how to reach them: the centre calls back."""
    user = report.reported_by
    return {"id": user.id, "name": user.display_name, "phone": user.phone,
            "identity": user.reporter_identity.value if user.reporter_identity else None,
            "unit": report.unit.path if report.unit else None}


class SchoolReportIn(ma.Schema):
    student_id = ma.fields.Integer(load_default=None, strict=True)
    student_number = ma.fields.String(load_default=None)
    kind = ma.fields.String(required=True)
    note = ma.fields.String(load_default="")
    report_date = validation.Date(load_default=None)


class SchoolReportOut(ma.Schema):
    id = ma.fields.Integer()
    school_id = ma.fields.Integer()
    school = ma.fields.Function(lambda report: report.school.name)
    student_id = ma.fields.Integer(allow_none=True)
    student = ma.fields.Function(_student)
    reporter = ma.fields.Function(_reporter)
    kind = ma.fields.Function(lambda report: report.kind.value)
    report_date = ma.fields.Date()
    note = ma.fields.String()
    status = ma.fields.Function(lambda report: report.status.value)
    taken_by = ma.fields.Function(lambda report: report.taken_by.display_name
                                  if report.taken_by else None)
    case_id = ma.fields.Integer(allow_none=True)
    closed_reason = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()
    handled_at = ma.fields.DateTime(allow_none=True)


class ReportQuery(ma.Schema):
    # open: at-risk reports still to be handled (received or in progress), oldest first
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(
        ["open", *(status.value for status in ReportStatus)]))


class OpenCaseIn(ma.Schema):
    risk_level = ma.fields.String(load_default="high", validate=ma.validate.OneOf(
        ["low", "moderate", "high", "imminent"]))


class CloseIn(ma.Schema):
    reason = ma.fields.String(required=True)


class DueStudentOut(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    student_number = ma.fields.String()


class SchoolFollowUpOut(ma.Schema):
    """A follow-up record as the school's department and psychology centre hold it."""

    id = ma.fields.Integer()
    case_id = ma.fields.Integer()
    student = ma.fields.Function(lambda follow_up: _student(follow_up.case))
    kind = ma.fields.Function(lambda follow_up: follow_up.kind.value)
    occurred_at = ma.fields.DateTime()
    outcome = ma.fields.String()


class WatchIn(ma.Schema):
    """A student to watch, named in a routine report; ``at_risk`` files an at-risk report."""

    student_id = ma.fields.Integer(load_default=None, strict=True)
    student_number = ma.fields.String(load_default=None)
    note = ma.fields.String(load_default="")
    at_risk = ma.fields.Boolean(load_default=False)


class RoutineReportIn(ma.Schema):
    kind = ma.fields.String(required=True)
    study = ma.fields.String(load_default="")
    life = ma.fields.String(load_default="")
    relationships = ma.fields.String(load_default="")
    emotions = ma.fields.String(load_default="")
    watch = ma.fields.List(ma.fields.Nested(WatchIn), load_default=list,
                           validate=ma.validate.Length(max=50))
    period_start = validation.Date(load_default=None)


class RoutineReportOut(ma.Schema):
    id = ma.fields.Integer()
    school_id = ma.fields.Integer()
    unit = ma.fields.Function(lambda report: {"id": report.unit.id, "path": report.unit.path})
    kind = ma.fields.Function(lambda report: report.kind.value)
    period_start = ma.fields.Date()
    period_end = ma.fields.Date()
    filed_by = ma.fields.Function(lambda report: report.filed_by.display_name)
    study = ma.fields.String()
    life = ma.fields.String()
    relationships = ma.fields.String()
    emotions = ma.fields.String()
    watch = ma.fields.List(ma.fields.Dict())
    created_at = ma.fields.DateTime()


class ComplianceQuery(ma.Schema):
    kind = ma.fields.String(load_default="weekly_class", validate=ma.validate.OneOf(
        ["weekly_class", "monthly_department"]))
    school = ma.fields.Integer(load_default=None, strict=False)
    periods = ma.fields.Integer(load_default=8, validate=ma.validate.Range(min=1, max=52))

# -- key periods ------------------------------------------------------------------------------

_KINDS = ", ".join(kind.value for kind in KeyPeriodKind)


class KeyPeriodIn(ma.Schema):
    kind = ma.fields.String(required=True, metadata={
        "description": f"{_KINDS} (or the kind's name in Chinese, e.g. 开学前后)"})
    name = validation.Name(required=True, metadata={"description": "e.g. 2026年秋季开学前后"})
    starts_on = validation.Date(required=True, metadata={"description": "its first day"})
    ends_on = validation.Date(required=True, metadata={"description": "its last day"})


class KeyPeriodChange(ma.Schema):
    """Only the fields given change."""

    kind = ma.fields.String(metadata={"description": _KINDS})
    name = validation.Name()
    starts_on = validation.Date()
    ends_on = validation.Date()


class KeyPeriodQuery(ma.Schema):
    year = ma.fields.Integer(load_default=None, strict=False, validate=ma.validate.Range(
        min=validation.EARLIEST_YEAR, max=validation.LATEST_YEAR), metadata={
        "description": "the school year, by the year it starts in (this one by default)"})


class KeyPeriodOut(ma.Schema):
    id = ma.fields.Integer()
    school_id = ma.fields.Integer()
    school = ma.fields.Function(lambda period: period.school.name)
    kind = ma.fields.Function(lambda period: period.kind.value)
    name = ma.fields.String()
    starts_on = ma.fields.Date()
    ends_on = ma.fields.Date()
    # when the reviews of its cases in follow-up were created (null: it has not started)
    reviews_created_at = ma.fields.DateTime(allow_none=True)
    created_at = ma.fields.DateTime()


# -- screening and the watch list ---------------------------------------------------------------

def _screened(record) -> dict:
    """The student a screening record is about, as the school names them."""
    student = record.student
    return {"id": student.id, "name": student.name, "student_number": student.student_number,
            "class": student.class_unit.path if student.class_unit else None}


def _person(user) -> dict | None:
    return None if user is None else {"id": user.id, "name": user.display_name}


class CampaignIn(ma.Schema):
    school_id = ma.fields.Integer(required=True, strict=True)
    name = ma.fields.String(required=True, metadata={"description": "e.g. 2026级新生心理普测"})
    instrument = ma.fields.String(required=True, metadata={
        "description": "PHQ-9, GAD-7 or custom"})
    started_on = validation.Date(required=True)
    scale_name = ma.fields.String(load_default=None, metadata={
        "description": "custom: the scale's name"})
    cut_off = ma.fields.Integer(load_default=None, strict=True, metadata={
        "description": "custom: the documented total from which a student is warned"})
    max_score = ma.fields.Integer(load_default=None, strict=True, metadata={
        "description": "custom: the scale's highest total"})


class CampaignOut(ma.Schema):
    id = ma.fields.Integer()
    school_id = ma.fields.Integer()
    school = ma.fields.Function(lambda campaign: campaign.school.name)
    name = ma.fields.String()
    instrument = ma.fields.Function(lambda campaign: campaign.instrument.value)
    scale_name = ma.fields.String(allow_none=True)
    cut_off = ma.fields.Integer(allow_none=True)
    max_score = ma.fields.Integer(allow_none=True)
    started_on = ma.fields.Date()
    created_by = ma.fields.Function(lambda campaign: _person(campaign.created_by))
    created_at = ma.fields.DateTime()


class ResultsIn(ma.Schema):
    dry_run = ma.fields.Boolean(load_default=False, metadata={
        "description": "check the file and report, saving nothing"})


class ResultsOut(ma.Schema):
    rows = ma.fields.Integer()
    created = ma.fields.Integer()
    warnings = ma.fields.Integer()
    urgent = ma.fields.Integer()
    dry_run = ma.fields.Boolean()


class FunnelOut(ma.Schema):
    screened = ma.fields.Integer()
    warned = ma.fields.Integer()
    urgent = ma.fields.Integer()
    interviewed = ma.fields.Integer()
    cleared = ma.fields.Integer()
    second_warnings = ma.fields.Integer()
    graded = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    cases = ma.fields.Integer()


class WarningOut(ma.Schema):
    id = ma.fields.Integer()
    campaign_id = ma.fields.Integer()
    student = ma.fields.Function(_screened)
    score = ma.fields.Function(lambda warning: warning.result.total)
    self_harm_item = ma.fields.Function(lambda warning: warning.result.self_harm_item)
    urgent = ma.fields.Boolean()
    due_at = ma.fields.DateTime()
    status = ma.fields.String(attribute="state")
    interviewed_by = ma.fields.Function(lambda warning: _person(warning.interviewed_by))
    interviewed_at = ma.fields.DateTime(allow_none=True)
    interview_note = ma.fields.String(allow_none=True)
    assessed_by = ma.fields.Function(lambda warning: _person(warning.assessed_by))
    assessed_at = ma.fields.DateTime(allow_none=True)
    risk_level = ma.fields.Function(lambda warning: warning.risk_level.value
                                    if warning.risk_level else None)
    plan = ma.fields.String(allow_none=True)
    case_id = ma.fields.Integer(allow_none=True)


class InterviewIn(ma.Schema):
    outcome = ma.fields.String(required=True, metadata={
        "description": "cleared or second_warning"})
    note = ma.fields.String(required=True)


class AssessmentIn(ma.Schema):
    risk_level = ma.fields.String(required=True, metadata={
        "description": "low or moderate (the watch list), high or imminent (a crisis case)"})
    plan = ma.fields.String(required=True, metadata={"description": "一人一策"})
    review_on = validation.Date(load_default=None, metadata={
        "description": "low or moderate: the first review"})
    owner_id = ma.fields.Integer(load_default=None, strict=True, metadata={
        "description": "low or moderate: who follows the student (the interviewer by "
                       "default)"})


class WatchListQuery(ma.Schema):
    school_id = ma.fields.Integer(load_default=None, strict=False)


class WatchEntryOut(ma.Schema):
    id = ma.fields.Integer()
    school_id = ma.fields.Integer()
    student = ma.fields.Function(_screened)
    risk_level = ma.fields.Function(lambda entry: entry.risk_level.value)
    owner = ma.fields.Function(lambda entry: _person(entry.owner))
    plan = ma.fields.String()
    next_review_on = ma.fields.Date()
    overdue = ma.fields.Function(lambda entry: _overdue(entry))
    warning_id = ma.fields.Integer(allow_none=True)
    on_list = ma.fields.Function(lambda entry: entry.on_list_key is not None)
    removed_reason = ma.fields.String(allow_none=True)
    case_id = ma.fields.Integer(allow_none=True)


def _overdue(entry) -> bool:
    from schoolnet.watch_list import is_overdue
    return is_overdue(entry)


class ReviewIn(ma.Schema):
    decision = ma.fields.String(required=True, metadata={
        "description": "keep, lower, raise or remove"})
    note = ma.fields.String(load_default="", metadata={
        "description": "what was found; for remove, the reason"})
    risk_level = ma.fields.String(load_default=None, metadata={
        "description": "raise: moderate, high or imminent (high and imminent open a case)"})
    next_review_on = validation.Date(load_default=None)


class ReviewOut(ma.Schema):
    id = ma.fields.Integer()
    entry_id = ma.fields.Integer()
    meeting_id = ma.fields.Integer(allow_none=True)
    decision = ma.fields.Function(lambda review: review.decision.value)
    risk_level = ma.fields.Function(lambda review: review.risk_level.value)
    next_review_on = ma.fields.Date(allow_none=True)
    note = ma.fields.String()
    reviewed_by = ma.fields.Function(lambda review: _person(review.reviewed_by))
    case_id = ma.fields.Function(lambda review: review.entry.case_id)
    created_at = ma.fields.DateTime()


class MeetingDecisionIn(ReviewIn):
    entry_id = ma.fields.Integer(required=True, strict=True)


class MeetingIn(ma.Schema):
    school_id = ma.fields.Integer(required=True, strict=True)
    held_on = validation.Date(required=True)
    note = ma.fields.String(load_default="", metadata={"description": "who attended, what"})
    decisions = ma.fields.List(ma.fields.Nested(MeetingDecisionIn), required=True,
                               validate=ma.validate.Length(min=1, max=500))


class MeetingOut(ma.Schema):
    id = ma.fields.Integer()
    school_id = ma.fields.Integer()
    held_on = ma.fields.Date()
    held_by = ma.fields.Function(lambda meeting: _person(meeting.held_by))
    note = ma.fields.String()
    reviews = ma.fields.List(ma.fields.Nested(ReviewOut))
