import marshmallow as ma

from casework.models import RiskLevel
from crisisline import validation
from state_machines.case_workflow import STATES


def _value(attribute):
    return ma.fields.Function(lambda obj: getattr(obj, attribute).value)


class CaseOut(ma.Schema):
    id = ma.fields.Integer()
    state = ma.fields.String()
    version = ma.fields.Integer()
    source = _value("source")
    risk_level = _value("risk_level")
    student_id = ma.fields.Integer(allow_none=True)
    owner_id = ma.fields.Integer(allow_none=True)
    team_id = ma.fields.Integer(allow_none=True)
    summary = ma.fields.String()
    created_at = ma.fields.DateTime()


class ReferralOut(ma.Schema):
    id = ma.fields.Integer()
    case_id = ma.fields.Integer()
    hospital_id = ma.fields.Integer()
    hospital = ma.fields.Function(lambda referral: referral.hospital.name)
    created_at = ma.fields.DateTime()
    arrived_at = ma.fields.DateTime(allow_none=True)
    discharged_at = ma.fields.DateTime(allow_none=True)


class SchoolReportOut(ma.Schema):
    id = ma.fields.Integer()
    school_id = ma.fields.Integer()
    student_id = ma.fields.Integer(allow_none=True)
    kind = _value("kind")
    report_date = ma.fields.Date()
    note = ma.fields.String()
    created_at = ma.fields.DateTime()


class GuardianOut(ma.Schema):
    name = ma.fields.String()
    relation = ma.fields.String()
    phone = ma.fields.String()


class StudentOut(ma.Schema):
    id = ma.fields.Integer()
    school_id = ma.fields.Integer()
    student_number = ma.fields.String()
    name = ma.fields.String()
    birth_date = ma.fields.Date(allow_none=True)
    guardians = ma.fields.List(ma.fields.Nested(GuardianOut))


class CaseDetail(CaseOut):
    responder = ma.fields.String(allow_none=True)
    watcher = ma.fields.String(allow_none=True)
    hospital_id = ma.fields.Integer(allow_none=True)
    legal_basis = ma.fields.String(allow_none=True)
    daily_reports = ma.fields.Boolean()
    leave_kind = ma.fields.String(allow_none=True)
    leave_expected_end = ma.fields.Date(allow_none=True)
    closed_at = ma.fields.DateTime(allow_none=True)
    allowed_events = ma.fields.List(ma.fields.String())


class LiaisonCaseView(ma.Schema):
    """A hospital liaison's view of a case in transfer: enough to confirm the arrival."""

    id = ma.fields.Integer()
    state = ma.fields.String()
    version = ma.fields.Integer()
    hospital_id = ma.fields.Integer(allow_none=True)
    allowed_events = ma.fields.List(ma.fields.String())


class OpenCase(ma.Schema):
    source = ma.fields.String(required=True)
    risk_level = ma.fields.String(required=True)
    summary = ma.fields.String(load_default="")
    student_id = ma.fields.Integer(load_default=None, strict=True)
    owner_id = ma.fields.Integer(load_default=None, strict=True)


class CaseFilters(ma.Schema):
    state = ma.fields.String(validate=ma.validate.OneOf(STATES))
    risk = ma.fields.String(validate=ma.validate.OneOf([level.value for level in RiskLevel]))
    owner = ma.fields.Integer()
    school = ma.fields.Integer()
    overdue = ma.fields.Boolean()


class EventRequest(ma.Schema):
    version = ma.fields.Integer(required=True, strict=True)
    data = ma.fields.Dict(load_default=dict)


class HistoryOut(ma.Schema):
    id = ma.fields.Integer()
    event = ma.fields.String()
    from_state = ma.fields.String(allow_none=True)
    to_state = ma.fields.String()
    actor_id = ma.fields.Integer(allow_none=True)
    occurred_at = ma.fields.DateTime()
    data = ma.fields.Dict()


class NoteIn(ma.Schema):
    body = ma.fields.String(required=True)


class NoteOut(ma.Schema):
    id = ma.fields.Integer()
    author_id = ma.fields.Integer()
    body = ma.fields.String()
    created_at = ma.fields.DateTime()


class DocumentIn(ma.Schema):
    kind = ma.fields.String(required=True)
    issued_by_hospital_id = ma.fields.Integer(load_default=None)


class DocumentOut(ma.Schema):
    id = ma.fields.Integer()
    kind = _value("kind")
    filename = ma.fields.String()
    content_type = ma.fields.String()
    size = ma.fields.Integer()
    sha256 = ma.fields.String()
    issued_by_hospital_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.DateTime()


class FollowUpIn(ma.Schema):
    kind = ma.fields.String(required=True)
    outcome = ma.fields.String(required=True)
    occurred_at = validation.AwareDateTime(required=True)


class FollowUpOut(ma.Schema):
    id = ma.fields.Integer()
    kind = _value("kind")
    outcome = ma.fields.String()
    occurred_at = ma.fields.DateTime()


class GuardianAttemptIn(ma.Schema):
    reached = ma.fields.Boolean(required=True)
    note = ma.fields.String(load_default="")
    guardian_id = ma.fields.Integer(load_default=None)


class GuardianAttemptOut(ma.Schema):
    id = ma.fields.Integer()
    reached = ma.fields.Boolean()
    attempted_at = ma.fields.DateTime()
    note = ma.fields.String()


class AlertOut(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    case_id = ma.fields.Integer(allow_none=True)
    contact_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.DateTime()
    acknowledged_at = ma.fields.DateTime(allow_none=True)
    sms_status = ma.fields.String(allow_none=True)


class DischargeIn(ma.Schema):
    discharged_at = validation.AwareDateTime(required=True)


class SchoolReportIn(ma.Schema):
    student_id = ma.fields.Integer(load_default=None, strict=True)
    student_number = ma.fields.String(load_default=None)
    kind = ma.fields.String(required=True)
    note = ma.fields.String(load_default="")
    report_date = validation.Date(load_default=None)


class AssignIn(ma.Schema):
    owner_id = ma.fields.Integer(required=True, allow_none=True, strict=True)
    version = ma.fields.Integer(required=True, strict=True)
