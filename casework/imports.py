"""The students' row schema for ``crisisline import students FILE`` (see IMPORTS_API.md):
the columns schools already keep, checked row by row, saved through
``casework.students`` (audited there); the natural key is school code + 学号.

The school network's units are created from the rows: 院系/年级 → 班级, and 宿舍 written
"building/room" (宿舍楼 → 宿舍). Until the district's unit-path helper lands, the units are
found or created by ``casework.students.find_or_create_unit``.
"""
from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from casework import students
from casework.models import Gender, SpecialGroup, Student
from crisisline.accounts.models import Organisation, OrgKind, UnitKind
from crisisline.database import db
from crisisline.validation import name_problem

from crisisline.imports import Column, ImportRun, RowInvalid, RowSchema, register

GENDERS = {"男": Gender.MALE, "女": Gender.FEMALE, "male": Gender.MALE,
           "female": Gender.FEMALE}
GROUPS = {"留守儿童": SpecialGroup.LEFT_BEHIND, "流动儿童": SpecialGroup.MIGRANT,
          "孤儿或事实无人抚养": SpecialGroup.ORPHANED, "孤儿": SpecialGroup.ORPHANED,
          "事实无人抚养": SpecialGroup.ORPHANED, "残疾": SpecialGroup.DISABLED,
          "家庭经济困难": SpecialGroup.LOW_INCOME,
          **{group.value: group for group in SpecialGroup}}
SEPARATOR = re.compile(r"[;；]")
UNIT_NAME_LENGTH = 120


@register
class StudentRows(RowSchema):
    kind = "students"
    label = _l("Students")
    columns = (
        Column("school_code", "学校代码", required=True),
        Column("student_number", "学号", required=True),
        Column("name", "姓名", required=True),
        Column("gender", "性别"),
        Column("birth_date", "出生日期"),
        Column("department", "院系/年级"),
        Column("class_name", "班级"),
        Column("dormitory", "宿舍"),
        Column("guardian1_name", "监护人1姓名"),
        Column("guardian1_relation", "监护人1关系"),
        Column("guardian1_phone", "监护人1电话"),
        Column("guardian2_name", "监护人2姓名"),
        Column("guardian2_relation", "监护人2关系"),
        Column("guardian2_phone", "监护人2电话"),
        Column("special_groups", "特殊群体"),
    )

    def key(self, values: dict) -> tuple:
        return (values["school_code"], values["student_number"])

    def check(self, row: dict[str, str], run: ImportRun) -> dict:
        problems: dict = {}
        get = lambda name: (row.get(name) or "").strip()  # noqa: E731
        school_id = self._school(get("school_code"), run, problems)
        values = {"school_code": get("school_code"), "school_id": school_id,
                  "student_number": students.checked_text(
                      get("student_number"), problems, "student_number", max_length=40),
                  "name": students.checked_text(get("name"), problems, "name", max_length=80,
                                                name=True)}
        gender = get("gender")
        if gender and gender not in GENDERS:
            problems["gender"] = _l("write 男 or 女")
        values["gender"] = GENDERS[gender].value if gender in GENDERS else None
        values["birth_date"] = None
        if get("birth_date"):
            try:
                values["birth_date"] = students.parse_birth_date(get("birth_date"))
            except ValueError as problem:
                problems["birth_date"] = problem.args[0]
        values["department"] = _unit_name(get("department"), "department", problems)
        values["class_name"] = _unit_name(get("class_name"), "class_name", problems)
        values["building"], values["room"] = _dormitory(get("dormitory"), problems)
        values["guardians"] = []
        for n in (1, 2):
            name, relation, phone = (get(f"guardian{n}_{part}")
                                     for part in ("name", "relation", "phone"))
            if not (name or relation or phone):
                continue
            stored = students.guardian_phone(phone, problems, f"guardian{n}_phone") \
                if phone else None
            for part, given in (("name", name), ("relation", relation), ("phone", phone)):
                if not given:
                    problems[f"guardian{n}_{part}"] = _l("required when the guardian is given")
            if name:
                students.checked_text(name, problems, f"guardian{n}_name", max_length=80,
                                      name=True)
            if relation:
                students.checked_text(relation, problems, f"guardian{n}_relation",
                                      max_length=40)
            values["guardians"].append({"name": name, "relation": relation, "phone": stored})
        groups = [part.strip() for part in SEPARATOR.split(get("special_groups"))
                  if part.strip()]
        unknown = [group for group in groups if group not in GROUPS]
        if unknown:
            problems["special_groups"] = _l(
                "unknown group “%(group)s”: write 留守儿童, 流动儿童, 孤儿或事实无人抚养, 残疾 "
                "or 家庭经济困难", group=unknown[0])
        values["special_groups"] = sorted({GROUPS[group].value for group in groups
                                           if group in GROUPS},
                                          key=[g.value for g in SpecialGroup].index)
        if problems:
            raise RowInvalid(problems)
        return values

    def save(self, values: dict, run: ImportRun) -> str:
        cache = run.seen.setdefault("students.units", {})  # one id per unit: small
        school = db.get(Organisation, values["school_id"])
        parent = None
        if values["department"]:
            parent = students.find_or_create_unit(school.id, students.top_unit_kind(school),
                                                  values["department"], None, cache)
        class_id = students.find_or_create_unit(
            school.id, UnitKind.CLASS, values["class_name"], parent, cache) \
            if values["class_name"] else None
        dormitory_id = None
        if values["room"]:
            building = students.find_or_create_unit(
                school.id, UnitKind.BUILDING, values["building"], None, cache) \
                if values["building"] else None
            dormitory_id = students.find_or_create_unit(
                school.id, UnitKind.DORMITORY, values["room"], building, cache)
        profile = {"name": values["name"], "gender": values["gender"],
                   "birth_date": values["birth_date"], "class_unit_id": class_id,
                   "dormitory_unit_id": dormitory_id,
                   "guardians": [students.GuardianInput(**g) for g in values["guardians"]],
                   "special_groups": values["special_groups"]}
        existing = db.scalar(select(Student).where(
            Student.school_id == school.id,
            Student.student_number == values["student_number"]))
        if existing is None:
            students.create_student(run.actor, school_id=school.id,
                                    student_number=values["student_number"], **profile)
            return "created"
        if _same(existing, profile):
            return "unchanged"
        students.update_student(run.actor, existing.id, **profile)
        return "updated"

    @staticmethod
    def _school(code: str, run: ImportRun, problems: dict) -> int | None:
        """The school's id (remembered in ``run.seen``: a few codes per file)."""
        known = run.seen.setdefault("students.schools", {})
        if code not in known:
            school = Organisation.by_code(code) if code else None
            known[code] = school.id if school is not None and school.kind == OrgKind.SCHOOL \
                else None
        if not code:
            problems["school_code"] = _l("required")
        elif known[code] is None:
            problems["school_code"] = _l("no school has the code “%(code)s”", code=code)
        return known[code]


def _unit_name(value: str, column: str, problems: dict) -> str:
    if not value:
        return ""
    problem = name_problem(value)
    if problem is None and "/" in value:
        problem = _l("one name, without “/”")
    if problem is None and len(value) > UNIT_NAME_LENGTH:
        problem = _l("at most %(n)d characters", n=UNIT_NAME_LENGTH)
    if problem is not None:
        problems[column] = problem
    return value


def _dormitory(value: str, problems: dict) -> tuple[str, str]:
    """"3号楼/201" → ("3号楼", "201"); a room alone ("201") has no building."""
    if not value:
        return "", ""
    parts = [part.strip() for part in value.split("/")]
    problem = name_problem(value)
    if problem is None and (len(parts) > 2 or not all(parts)):
        problem = _l("write building/room, e.g. 3号楼/201")
    if problem is None and any(len(part) > UNIT_NAME_LENGTH for part in parts):
        problem = _l("at most %(n)d characters", n=UNIT_NAME_LENGTH)
    if problem is not None:
        problems["dormitory"] = problem
        return "", ""
    return (parts[0], parts[1]) if len(parts) == 2 else ("", parts[0])


def _same(student: Student, profile: dict) -> bool:
    """Would saving ``profile`` change nothing of ``student``?"""
    return (student.name == profile["name"]
            and (student.gender.value if student.gender else None) == profile["gender"]
            and student.birth_date == profile["birth_date"]
            and student.class_unit_id == profile["class_unit_id"]
            and student.dormitory_unit_id == profile["dormitory_unit_id"]
            and [(g.name, g.relation, g.phone) for g in student.guardians]
            == [(g.name, g.relation, g.phone) for g in profile["guardians"]]
            and [group.value for group in student.special_groups] == profile["special_groups"])
