"""The students' JSON API: find a student, read the file, keep it; and the pickers that
let forms choose a student, a person or a hospital by name."""
from __future__ import annotations

from flask_login import current_user, login_required
from flask_smorest import Blueprint

from casework import people, students
from casework.schemas import (HospitalPickQuery, MoveIn, PickOut, PickQuery, StaffPickQuery,
                              StudentFileOut, StudentIn, StudentPageOut, StudentPatch,
                              StudentQuery)
from crisisline.database import db

blueprint = Blueprint("students_api", __name__, url_prefix="/api",
                      description="Students (one file each), and pickers for forms")


def file_data(found: students.StudentFile) -> dict:
    """The file as its reader may see it: the profile, and the timeline entry by entry."""
    student = found.student
    return {
        "id": student.id, "student_number": student.student_number, "name": student.name,
        "gender": student.gender.value if student.gender else None,
        "birth_date": student.birth_date, "age": students.age(student),
        "school": student.school,
        "class_path": student.class_unit.path if student.class_unit else None,
        "dormitory_path": student.dormitory_unit.path if student.dormitory_unit else None,
        "guardians": student.guardians,
        "special_groups": [group.value for group in student.special_groups],
        "timeline": [{"kind": entry.kind, "at": entry.at, "shown": entry.shown,
                      "id": entry.record.id, "case_id": entry.case_id,
                      "details": _details(entry) if entry.shown else {}}
                     for entry in found.entries],
    }


def _details(entry: students.Entry) -> dict:
    record = entry.record
    if entry.kind == "case":
        return {"state": record.state, "risk_level": record.risk_level.value,
                "source": record.source.value}
    if entry.kind == "contact":
        return {"channel": record.channel.value, "status": record.status.value,
                "risk_level": record.risk_level.value}
    if entry.kind == "school_report":
        return {"kind": record.kind.value, "report_date": record.report_date.isoformat(),
                "note": record.note}
    return {"kind": record.kind.value, "outcome": record.outcome}  # a follow-up


@blueprint.route("/students", methods=["GET"])
@blueprint.arguments(StudentQuery, location="query")
@blueprint.response(200, StudentPageOut)
@login_required
def find_students(query):
    """Students the caller may see, by name, 学号 or a guardian's phone (``q``)."""
    page = students.search(current_user, query["q"], query["page"], query["per_page"])
    db.commit()
    return {"items": page.items, "page": page.page, "per_page": page.per_page,
            "total": page.total}


@blueprint.route("/students", methods=["POST"])
@blueprint.arguments(StudentIn)
@blueprint.response(201, StudentFileOut)
@login_required
def create_student(data):
    student = students.create_student(current_user, **_guardians(data))
    db.commit()
    return file_data(students.student_file(current_user, student.id))


@blueprint.route("/students/<int:record_id>", methods=["GET"])
@blueprint.response(200, StudentFileOut)
@login_required
def read_student(record_id: int):
    found = students.student_file(current_user, record_id)
    db.commit()
    return file_data(found)


@blueprint.route("/students/<int:record_id>", methods=["PATCH"])
@blueprint.arguments(StudentPatch)
@blueprint.response(200, StudentFileOut)
@login_required
def update_student(data, record_id: int):
    students.update_student(current_user, record_id, **_guardians(data))
    db.commit()
    return file_data(students.student_file(current_user, record_id))


@blueprint.route("/students/<int:record_id>/move", methods=["POST"])
@blueprint.arguments(MoveIn)
@blueprint.response(200, StudentFileOut)
@login_required
def move_student(data, record_id: int):
    """The student changes school and keeps one file (一生一案)."""
    students.move_student(current_user, record_id, **data)
    db.commit()
    return file_data(students.student_file(current_user, record_id))


def _guardians(data: dict) -> dict:
    if "guardians" in data:
        data["guardians"] = [students.GuardianInput(**row) for row in data["guardians"]]
    return data


# -- pickers ---------------------------------------------------------------------------------

@blueprint.route("/students/pick")
@blueprint.arguments(PickQuery, location="query")
@blueprint.response(200, PickOut)
@login_required
def pick_students(query):
    """At most ten students to pick for a case (or, with ``contact``, for that contact):
    name, school and class only."""
    found = students.pick(current_user, query["q"], query["contact"])
    db.commit()
    return {"items": [{"id": student.id, "label": students.label(student)}
                      for student in found]}


@blueprint.route("/staff/pick")
@blueprint.arguments(StaffPickQuery, location="query")
@blueprint.response(200, PickOut)
@login_required
def pick_staff(query):
    """People of a case's centre for ``purpose``: plan_owner, assignee or escort."""
    found = people.staff(current_user, query["q"], query["purpose"], query["case"])
    return {"items": [{"id": user.id, "label": people.staff_label(user)} for user in found]}


@blueprint.route("/hospitals/pick")
@blueprint.arguments(HospitalPickQuery, location="query")
@blueprint.response(200, PickOut)
@login_required
def pick_hospitals(query):
    found = people.hospitals(current_user, query["q"], query["case"])
    return {"items": [{"id": hospital.id, "label": people.hospital_label(hospital, designated)}
                      for hospital, designated in found]}
