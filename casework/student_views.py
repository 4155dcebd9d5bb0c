"""Pages of the students: find one, read the file, keep it (create, edit, move school)."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select

from casework import students
from casework.models import Gender, SpecialGroup, Student
from crisisline.access.rules import BREAK_GLASS_ROLES, EDIT, can
from crisisline.accounts.models import Organisation, OrgKind, Role, SchoolUnit, UnitKind
from crisisline.accounts.security import require_role
from crisisline.database import db
from crisisline.pages import form_id, save

blueprint = Blueprint("students", __name__, template_folder="templates")
KEEPERS = (Role.ADMIN, Role.SUPERVISOR)  # who creates students (the rules say where)


@blueprint.route("/students")
@login_required
def find():
    q = request.args.get("q", "")
    page = students.search(current_user, q, form_id(request.args.get("page")) or 1)
    # the centre's other students matching q, as a picker names them (name, school, class):
    # their file opens by a case or by breaking the glass (audited, reviewed)
    shown = {student.id for student in page.items}
    others = [student for student in students.pick(current_user, q)
              if student.id not in shown] if current_user.role in BREAK_GLASS_ROLES else []
    db.commit()
    return render_template("casework/students.html", q=q, page=page, others=others,
                           may_create=bool(_schools()))


@blueprint.route("/students/<int:record_id>")
@login_required
def file_page(record_id: int):
    found = students.student_file(current_user, record_id)
    db.commit()
    return render_template("casework/student_file.html", file=found, student=found.student,
                           age=students.age(found.student),
                           may_edit=can(current_user, EDIT, found.student))


@blueprint.route("/students/new", methods=["GET", "POST"])
@require_role(*KEEPERS)
def new():
    schools = _schools()
    if request.method == "POST":
        student = save(lambda: students.create_student(
            current_user, school_id=form_id(request.form.get("school_id")),
            **_profile_fields(request.form)), _l("The student's file was created."))
        if student is not None:
            return redirect(url_for("students.file_page", record_id=student.id))
    return render_template("casework/student_form.html", student=None, schools=schools,
                           units=_units([school.id for school in schools]),
                           **_choices()), 422 if request.method == "POST" else 200


@blueprint.route("/students/<int:record_id>/edit", methods=["GET", "POST"])
@login_required
def edit(record_id: int):
    student = students.editable(current_user, record_id)
    if request.method == "POST":
        if save(lambda: students.update_student(current_user, record_id,
                                                **_profile_fields(request.form)),
                _l("Saved.")) is not None:
            return redirect(url_for("students.file_page", record_id=record_id))
        student = db.get(Student, record_id)  # as stored: the form keeps what was typed
    return _edit_page(student, 422 if request.method == "POST" else 200)


@blueprint.route("/students/<int:record_id>/move", methods=["POST"])
@login_required
def move(record_id: int):
    form = request.form
    if save(lambda: students.move_student(
            current_user, record_id, school_id=form_id(form.get("school_id")),
            student_number=form.get("student_number", ""),
            class_unit_id=form_id(form.get("class_unit_id")),
            dormitory_unit_id=form_id(form.get("dormitory_unit_id"))),
            _l("The student moved school; the file went with them.")) is not None:
        student = db.get(Student, record_id)
        if can(current_user, EDIT, student):
            return redirect(url_for("students.file_page", record_id=record_id))
        return redirect(url_for("students.find"))
    return _edit_page(students.editable(current_user, record_id), 422)


def _edit_page(student: Student, status: int):
    move_to = [school for school in _schools() if school.id != student.school_id]
    return render_template(
        "casework/student_form.html", student=student, schools=[student.school],
        units=_units([student.school_id]), move_to=move_to,
        move_units=_units([school.id for school in move_to]), **_choices()), status


def _profile_fields(form) -> dict:
    guardians = [students.GuardianInput(name=form.get(f"guardian{n}_name", ""),
                                        relation=form.get(f"guardian{n}_relation", ""),
                                        phone=form.get(f"guardian{n}_phone", ""))
                 for n in range(1, students.MAX_GUARDIANS + 1)]
    return {"student_number": form.get("student_number", ""), "name": form.get("name", ""),
            "gender": form.get("gender") or None, "birth_date": form.get("birth_date", ""),
            "class_unit_id": form_id(form.get("class_unit_id")),
            "dormitory_unit_id": form_id(form.get("dormitory_unit_id")),
            "guardians": guardians, "special_groups": form.getlist("special_groups")}


def _schools() -> list[Organisation]:
    """The schools where the current user may create students (the rules decide)."""
    if current_user.role not in KEEPERS:
        return []
    schools = db.scalars(select(Organisation).where(Organisation.kind == OrgKind.SCHOOL)
                         .order_by(Organisation.name)).all()
    return [school for school in schools
            if can(current_user, EDIT, Student(school_id=school.id))]


def _units(school_ids: list[int]) -> dict[str, list[SchoolUnit]]:
    units = db.scalars(select(SchoolUnit).where(
        SchoolUnit.school_id.in_(school_ids),
        SchoolUnit.kind.in_((UnitKind.CLASS, UnitKind.DORMITORY)))).all()
    ordered = sorted(units, key=lambda unit: (unit.school.name, unit.path))
    return {"class": [u for u in ordered if u.kind == UnitKind.CLASS],
            "dormitory": [u for u in ordered if u.kind == UnitKind.DORMITORY]}


def _choices() -> dict:
    return {"genders": [gender.value for gender in Gender],
            "groups": [group.value for group in SpecialGroup],
            "max_guardians": students.MAX_GUARDIANS}
