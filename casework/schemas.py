import marshmallow as ma


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
