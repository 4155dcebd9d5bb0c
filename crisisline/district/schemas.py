"""The district's JSON API: what it takes and what it answers."""
import marshmallow as ma

from crisisline.accounts.models import Organisation
from crisisline.database import db
from crisisline.validation import Name

_TEXT_LIST = {"load_default": list}


class CentreIn(ma.Schema):
    code = ma.fields.String(required=True, metadata={
        "description": "letters, digits, '.', '_' and '-'; never changes"})
    name = Name(required=True)
    hotline_numbers = ma.fields.List(ma.fields.String(), **_TEXT_LIST)
    backup_line = ma.fields.String(allow_none=True)


class SchoolIn(ma.Schema):
    code = ma.fields.String(required=True)
    name = Name(required=True)
    school_kind = ma.fields.String(required=True, metadata={
        "description": "primary, junior_high, senior_high, vocational, university "
                       "(or 小学/初中/高中/中职/高校)"})
    centre = ma.fields.String(required=True, metadata={"description": "a centre's code"})
    designated_hospitals = ma.fields.List(ma.fields.String(), **_TEXT_LIST)


class HospitalIn(ma.Schema):
    code = ma.fields.String(required=True)
    name = Name(required=True)
    hospital_category = ma.fields.String(required=True, metadata={
        "description": "grade_2a_psychiatric_department, specialist_psychiatric, "
                       "brain_hospital, general (or their Chinese labels)"})
    green_channel_phone = ma.fields.String(allow_none=True)
    centre = ma.fields.String(allow_none=True, metadata={"description": "a centre's code"})


class CentreChange(ma.Schema):
    """Only the fields given change; the code never does."""

    name = Name()
    hotline_numbers = ma.fields.List(ma.fields.String())
    backup_line = ma.fields.String(allow_none=True)


class SchoolChange(ma.Schema):
    name = Name()
    school_kind = ma.fields.String()
    centre = ma.fields.String()
    designated_hospitals = ma.fields.List(ma.fields.String())


class HospitalChange(ma.Schema):
    name = Name()
    hospital_category = ma.fields.String()
    green_channel_phone = ma.fields.String(allow_none=True)
    centre = ma.fields.String(allow_none=True)


def _code_of(org_id):
    org = db.get(Organisation, org_id) if org_id else None
    return org.code if org else None


class OrganisationOut(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    name = ma.fields.String()
    kind = ma.fields.Function(lambda org: org.kind.value)
    centre = ma.fields.Function(lambda org: _code_of(org.centre_id))
    hotline_numbers = ma.fields.Function(lambda org: [row.number for row in org.numbers])
    backup_line = ma.fields.String(allow_none=True)
    school_kind = ma.fields.Function(
        lambda org: org.school_kind.value if org.school_kind else None)
    designated_hospitals = ma.fields.Function(
        lambda org: [hospital.code for hospital in org.designated_hospitals])
    hospital_category = ma.fields.Function(
        lambda org: org.hospital_kind.value if org.hospital_kind else None)
    green_channel_phone = ma.fields.String(allow_none=True)


class UnitIn(ma.Schema):
    kind = ma.fields.String(required=True, metadata={
        "description": "department, grade, class, building, dormitory (or 院系/年级/班级/"
                       "宿舍楼/宿舍)"})
    name = Name(metadata={"description": "the unit's name, with parent_id"})
    parent_id = ma.fields.Integer(allow_none=True, strict=True)
    path = ma.fields.String(metadata={
        "description": "instead of name and parent_id: the unit's path, e.g. "
                       "计算机学院/2023级1班, created with the units above it when missing"})


class UnitChange(ma.Schema):
    name = Name(required=True)


class UnitOut(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.Function(lambda unit: unit.kind.value)
    name = ma.fields.String()
    path = ma.fields.String()
    parent_id = ma.fields.Integer(allow_none=True)


class TeamIn(ma.Schema):
    name = Name(required=True)


class MemberIn(ma.Schema):
    member = ma.fields.String(required=True, metadata={
        "description": "the staff member's username or name"})


class MemberOut(ma.Schema):
    username = ma.fields.String()
    display_name = ma.fields.String()
    role = ma.fields.Function(lambda user: user.role.value)


class TeamOut(ma.Schema):
    id = ma.fields.Integer()
    centre = ma.fields.Function(lambda team: _code_of(team.centre_id))
    name = ma.fields.String()
    members = ma.fields.Function(lambda team: MemberOut(many=True).dump(
        sorted(team.members, key=lambda user: user.username)))
