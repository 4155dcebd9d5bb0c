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


def _arriving_student(referral) -> dict | None:
    """Who the hospital receives: name, age and school, nothing else of the case."""
    from casework.students import age
    student = referral.case.student if referral is not None else None
    if student is None:
        return None
    return {"name": student.name, "age": age(student), "school": student.school.name}


def _escort(referral) -> dict | None:
    escort = referral.escort if referral is not None else None
    return {"name": escort.display_name, "phone": escort.phone} if escort else None


class ReferralOut(ma.Schema):
    id = ma.fields.Integer()
    case_id = ma.fields.Integer()
    hospital_id = ma.fields.Integer()
    hospital = ma.fields.Function(lambda referral: referral.hospital.name)
    created_at = ma.fields.DateTime()
    arrived_at = ma.fields.DateTime(allow_none=True)
    discharged_at = ma.fields.DateTime(allow_none=True)
    student = ma.fields.Function(_arriving_student)  # name, age, school
    escort = ma.fields.Function(_escort)  # who accompanies the student: name, phone


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
    student = ma.fields.Function(lambda case: _arriving_student(_current(case)))
    escort = ma.fields.Function(lambda case: _escort(_current(case)))


def _current(case):
    return max(case.referrals, key=lambda referral: referral.id, default=None)


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


class AssignIn(ma.Schema):
    owner_id = ma.fields.Integer(required=True, allow_none=True, strict=True)
    version = ma.fields.Integer(required=True, strict=True)


# -- students (casework.students) ----------------------------------------------------------

class StudentQuery(ma.Schema):
    q = ma.fields.String(load_default="")
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=100_000))
    per_page = ma.fields.Integer(load_default=20, validate=ma.validate.Range(min=1, max=100))


class StudentListItem(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    student_number = ma.fields.String()
    school = ma.fields.Function(lambda student: student.school.name)
    class_path = ma.fields.Function(
        lambda student: student.class_unit.path if student.class_unit else None)


class StudentPageOut(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(StudentListItem))
    page = ma.fields.Integer()
    per_page = ma.fields.Integer()
    total = ma.fields.Integer()


class GuardianIn(ma.Schema):
    name = ma.fields.String(load_default="")
    relation = ma.fields.String(load_default="")
    phone = ma.fields.String(load_default="")


class StudentPatch(ma.Schema):
    """What may change of a student's file; what is left out stays as it is."""
    student_number = ma.fields.String()
    name = validation.Name()
    gender = ma.fields.String(allow_none=True)
    birth_date = validation.Date(allow_none=True)
    class_unit_id = ma.fields.Integer(allow_none=True, strict=True)
    dormitory_unit_id = ma.fields.Integer(allow_none=True, strict=True)
    guardians = ma.fields.List(ma.fields.Nested(GuardianIn))
    special_groups = ma.fields.List(ma.fields.String())


class StudentIn(StudentPatch):
    school_id = ma.fields.Integer(required=True, strict=True)
    student_number = ma.fields.String(required=True)
    name = validation.Name(required=True)


class MoveIn(ma.Schema):
    school_id = ma.fields.Integer(required=True, strict=True)
    student_number = ma.fields.String(required=True)
    class_unit_id = ma.fields.Integer(load_default=None, allow_none=True, strict=True)
    dormitory_unit_id = ma.fields.Integer(load_default=None, allow_none=True, strict=True)


class SchoolRef(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    name = ma.fields.String()


class TimelineEntryOut(ma.Schema):
    kind = ma.fields.String()  # case | contact | school_report | follow_up
    at = ma.fields.DateTime()
    shown = ma.fields.Boolean()  # false: only by breaking the glass (its number to do so)
    id = ma.fields.Integer()
    case_id = ma.fields.Integer(allow_none=True)
    details = ma.fields.Dict()


class StudentFileOut(ma.Schema):
    id = ma.fields.Integer()
    student_number = ma.fields.String()
    name = ma.fields.String()
    gender = ma.fields.String(allow_none=True)
    birth_date = ma.fields.Date(allow_none=True)
    age = ma.fields.Integer(allow_none=True)
    school = ma.fields.Nested(SchoolRef)
    class_path = ma.fields.String(allow_none=True)
    dormitory_path = ma.fields.String(allow_none=True)
    guardians = ma.fields.List(ma.fields.Nested(GuardianOut))
    special_groups = ma.fields.List(ma.fields.String())
    timeline = ma.fields.List(ma.fields.Nested(TimelineEntryOut))


class PickQuery(ma.Schema):
    q = ma.fields.String(load_default="")
    contact = ma.fields.Integer(load_default=None)  # the contact a volunteer acts on


class StaffPickQuery(ma.Schema):
    q = ma.fields.String(load_default="")
    purpose = ma.fields.String(required=True)
    case = ma.fields.Integer(required=True)


class HospitalPickQuery(ma.Schema):
    q = ma.fields.String(load_default="")
    case = ma.fields.Integer(load_default=None)


class PickItem(ma.Schema):
    id = ma.fields.Integer()
    label = ma.fields.String()


class PickOut(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(PickItem))
