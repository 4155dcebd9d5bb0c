"""Students and their guardians (一生一案: one file per student, wherever they study).

Every function takes the acting user (None: the command line, e.g. an import) and plain
values, checks access through ``crisisline.access.rules``, audits what it changes and never
commits. Who may do what is decided there: creating a student, or moving one to another
school, is an edit of the student *as it would be at that school*.

Phones: an 11-digit mainland mobile number is stored as ``+86…``; any other number must be
given in E.164 (``+`` and 8–15 digits). Until ``crisisline.validation.phone_number`` lands
(another part of issue 12), :func:`phone_number` here is this module's own.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select

from casework.models import Case, FollowUpContact, Gender, Guardian, SpecialGroup, Student
from crisisline import audit
from crisisline.access.rules import (EDIT, VIEW, can, identifiable, may_break_glass, visible)
from crisisline.access.services import open_record
from crisisline.accounts.models import Organisation, OrgKind, SchoolKind, SchoolUnit, UnitKind
from crisisline.database import db, utcnow
from crisisline.errors import Forbidden, Hidden, InvalidInput, NotFound
from crisisline.i18n import RECORD_LABELS
from crisisline.validation import (PhoneNumberError, date_problem, name_problem,
                                   phone_number, text_problem)
from hotline.models import Contact
from schoolnet.models import SchoolReport, ScreeningResult

MAX_GUARDIANS = 3
PER_PAGE = 20
PICK_LIMIT = 10
MIN_PICK_LENGTH = 2  # a picker answers from two characters on: never a whole school
BIRTH_DATE = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})")


# -- plain values --------------------------------------------------------------------------

def guardian_phone(text: str, problems: dict, field: str) -> str | None:
    """A guardian's phone in E.164 (a mobile or a landline, never a service number), or
    None with the problem noted under ``field``."""
    try:
        return phone_number(text, service_numbers=False)
    except PhoneNumberError as unreadable:
        problems[field] = unreadable.message
        return None


def parse_birth_date(text: str) -> date:
    """A birth date written YYYY-MM-DD or YYYY/M/D; ValueError with a message otherwise."""
    found = BIRTH_DATE.fullmatch((text or "").strip())
    try:
        if not found:
            raise ValueError
        value = date(*(int(part) for part in found.groups()))
    except ValueError:
        raise ValueError(_l("a date written YYYY-MM-DD or YYYY/M/D")) from None
    problem = date_problem(value)
    if problem is not None:
        raise ValueError(problem)
    if value > utcnow().date():
        raise ValueError(_l("cannot be in the future"))
    return value


def age(student: Student, on: date | None = None) -> int | None:
    """The student's age in whole years (None without a birth date)."""
    if student.birth_date is None:
        return None
    on = on or utcnow().date()
    born = student.birth_date
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


@dataclass
class GuardianInput:
    name: str = ""
    relation: str = ""
    phone: str = ""

    @property
    def empty(self) -> bool:
        return not (self.name.strip() or self.relation.strip() or self.phone.strip())


def checked_text(value, problems: dict, key: str, *, max_length: int,
                 required: bool = True, name: bool = False) -> str:
    """``value`` stripped; what is wrong with it (missing, bad characters, too long) is
    noted in ``problems`` under ``key``."""
    value = (value or "").strip()
    if not value:
        if required:
            problems[key] = _l("required")
        return value
    problem = (name_problem if name else text_problem)(value)
    if problem is None and len(value) > max_length:
        problem = _l("at most %(n)d characters", n=max_length)
    if problem is not None:
        problems[key] = problem
    return value


def _guardians(guardians, problems: dict) -> list[dict]:
    """Guardians as stored, each one's problems named ``guardian<n>_<field>``."""
    kept = []
    rows = [row if isinstance(row, GuardianInput) else GuardianInput(**row)
            for row in guardians or ()]
    if len(rows) > MAX_GUARDIANS:
        problems["guardians"] = _l("at most %(n)d guardians", n=MAX_GUARDIANS)
        return []
    for n, row in enumerate(rows, start=1):
        if row.empty:
            continue
        key = f"guardian{n}"
        name = checked_text(row.name, problems, f"{key}_name", max_length=80, name=True)
        relation = checked_text(row.relation, problems, f"{key}_relation", max_length=40)
        phone = None
        if not row.phone.strip():
            problems[f"{key}_phone"] = _l("required")
        else:
            phone = guardian_phone(row.phone, problems, f"{key}_phone")
        kept.append({"name": name, "relation": relation, "phone": phone})
    return kept


def _groups(groups, problems: dict) -> list[SpecialGroup]:
    values = {group.value for group in SpecialGroup}
    chosen = [group for group in groups or () if group]
    if any(group not in values for group in chosen):
        problems["special_groups"] = _l("choose one of the options offered")
        return []
    return sorted({SpecialGroup(group) for group in chosen}, key=list(SpecialGroup).index)


def _unit(unit_id, school_id, kind: UnitKind, problems: dict, key: str) -> int | None:
    if unit_id is None:
        return None
    unit = db.get(SchoolUnit, unit_id)
    if unit is None or unit.school_id != school_id or unit.kind != kind:
        problems[key] = (_l("must be a class of the student's school") if kind == UnitKind.CLASS
                         else _l("must be a dormitory room of the student's school"))
        return None
    return unit.id


def _school(school_id, problems: dict, key: str = "school_id") -> Organisation | None:
    school = db.get(Organisation, school_id) if school_id is not None else None
    if school is None or school.kind != OrgKind.SCHOOL:
        problems[key] = _l("choose one of the schools offered")
        return None
    return school


def _number_taken(school_id: int, number: str, but: int | None = None) -> bool:
    query = select(Student.id).where(Student.school_id == school_id,
                                     Student.student_number == number)
    if but is not None:
        query = query.where(Student.id != but)
    return db.scalar(query.limit(1)) is not None


# -- creating, changing, moving ------------------------------------------------------------

def _may_keep(actor, student: Student) -> None:
    """The actor may edit ``student`` (as it is now, or as it would be); None: the CLI."""
    if actor is not None and not can(actor, EDIT, student):
        raise Forbidden(_l("you may not keep the students of this school"), object_type="student",
                        object_id=student.id)


def editable(actor, student_id: int) -> Student:
    student = db.get(Student, student_id)
    if student is None:
        raise NotFound(_l("%(record)s %(id)s does not exist", record=RECORD_LABELS["student"],
                          id=student_id))
    if actor is not None and not can(actor, VIEW, student):  # unknown to them
        raise Hidden(_l("%(record)s %(id)s does not exist", record=RECORD_LABELS["student"],
                        id=student_id), object_type="student", object_id=student.id)
    if actor is not None and not can(actor, EDIT, student):
        raise Forbidden(_l("you may not change this student's file"), object_type="student",
                        object_id=student.id)
    return student


def create_student(actor, *, school_id: int | None, student_number: str, name: str,
                   gender: str | None = None, birth_date: date | str | None = None,
                   class_unit_id: int | None = None, dormitory_unit_id: int | None = None,
                   guardians=(), special_groups=()) -> Student:
    """A new student's file at a school; refused naming every bad field."""
    problems: dict = {}
    school = _school(school_id, problems)
    # a school the actor does not keep is refused, after the fields (which tell nothing of
    # it): its 学号 and units are not even looked at
    allowed = school is None or actor is None or can(actor, EDIT, Student(school_id=school.id))
    values = _profile(problems, school if allowed else None, student_number=student_number,
                      name=name, gender=gender, birth_date=birth_date,
                      class_unit_id=class_unit_id, dormitory_unit_id=dormitory_unit_id)
    kept_guardians = _guardians(guardians, problems)
    groups = _groups(special_groups, problems)
    if problems:
        raise InvalidInput(problems)
    if not allowed:
        _may_keep(actor, Student(school_id=school.id))
    student = Student(school_id=school.id, **values)
    student.guardians = [Guardian(**guardian) for guardian in kept_guardians]
    student.special_groups = groups
    db.add(student)
    changes = audit.diff(student)
    changes.update(_sensitive_lists(bool(kept_guardians), bool(groups)))
    audit.record("student.create", student, changes=changes)
    return student


def _profile(problems: dict, school: Organisation | None, *, student_number, name, gender,
             birth_date, class_unit_id, dormitory_unit_id, but: int | None = None) -> dict:
    number = checked_text(student_number, problems, "student_number", max_length=40)
    if number and school is not None and "student_number" not in problems \
            and _number_taken(school.id, number, but):
        problems["student_number"] = _l("another student of this school has this number")
    values = {"student_number": number,
              "name": checked_text(name, problems, "name", max_length=80, name=True)}
    if gender not in (None, "", *(g.value for g in Gender)):
        problems["gender"] = _l("choose one of the options offered")
    values["gender"] = Gender(gender) if gender in {g.value for g in Gender} else None
    if isinstance(birth_date, str):  # as typed into a form or a file
        try:
            birth_date = parse_birth_date(birth_date) if birth_date.strip() else None
        except ValueError as problem:
            problems["birth_date"], birth_date = problem.args[0], None
    if birth_date is not None:
        problem = date_problem(birth_date) or (
            _l("cannot be in the future") if birth_date > utcnow().date() else None)
        if problem is not None:
            problems["birth_date"] = problem
    values["birth_date"] = birth_date
    school_id = school.id if school is not None else None
    values["class_unit_id"] = _unit(class_unit_id, school_id, UnitKind.CLASS, problems,
                                    "class_unit_id")
    values["dormitory_unit_id"] = _unit(dormitory_unit_id, school_id, UnitKind.DORMITORY,
                                        problems, "dormitory_unit_id")
    return values


def _sensitive_lists(guardians_changed: bool, groups_changed: bool) -> dict:
    # who a child's guardians are and which special group they are in (orphaned,
    # disabled, poor) are sensitive: the entry says they changed, not to what
    changes = {}
    if guardians_changed:
        changes["guardians"] = {"changed": True}
    if groups_changed:
        changes["special_groups"] = {"changed": True}
    return changes


_UNSET = object()


def update_student(actor, student_id: int, *, student_number=_UNSET, name=_UNSET,
                   gender=_UNSET, birth_date=_UNSET, class_unit_id=_UNSET,
                   dormitory_unit_id=_UNSET, guardians=_UNSET, special_groups=_UNSET
                   ) -> Student:
    """Change what is given of a student's file (the school stays: see
    :func:`move_student`). Nothing changes, and nothing is audited, when nothing differs."""
    student = editable(actor, student_id)
    given = {key: value for key, value in dict(
        student_number=student_number, name=name, gender=gender, birth_date=birth_date,
        class_unit_id=class_unit_id, dormitory_unit_id=dormitory_unit_id).items()
        if value is not _UNSET}
    current = {"student_number": student.student_number, "name": student.name,
               "gender": student.gender.value if student.gender else None,
               "birth_date": student.birth_date, "class_unit_id": student.class_unit_id,
               "dormitory_unit_id": student.dormitory_unit_id}
    problems: dict = {}
    values = _profile(problems, student.school, **{**current, **given}, but=student.id)
    kept_guardians = _guardians(guardians, problems) if guardians is not _UNSET else None
    groups = _groups(special_groups, problems) if special_groups is not _UNSET else None
    if problems:
        raise InvalidInput(problems)
    return _apply(student, values, kept_guardians, groups, action="student.update")


def _apply(student: Student, values: dict, guardians: list[dict] | None,
           groups: list[SpecialGroup] | None, *, action: str) -> Student:
    for key, value in values.items():
        if getattr(student, key) != value:
            setattr(student, key, value)
    changes = audit.diff(student)
    guardians_changed = guardians is not None and guardians != [
        {"name": g.name, "relation": g.relation, "phone": g.phone} for g in student.guardians]
    if guardians_changed:
        kept = {(g.name, g.relation, g.phone): g for g in student.guardians}
        student.guardians = [kept.get((g["name"], g["relation"], g["phone"])) or Guardian(**g)
                             for g in guardians]
    groups_changed = groups is not None and groups != student.special_groups
    if groups_changed:
        student.special_groups = groups
    changes.update(_sensitive_lists(guardians_changed, groups_changed))
    if changes:
        audit.record(action, student, changes=changes)
    return student


def move_student(actor, student_id: int, *, school_id: int | None, student_number: str,
                 class_unit_id: int | None = None, dormitory_unit_id: int | None = None
                 ) -> Student:
    """The student changes school and keeps one file (一生一案): their cases, contacts,
    reports and guardians stay with them; the new school's 学号 and units replace the old;
    the old school's reporters and staff lose access with the school."""
    student = editable(actor, student_id)
    problems: dict = {}
    school = _school(school_id, problems)
    if school is not None and school.id == student.school_id:
        problems["school_id"] = _l("the student is already at this school")
    if school is not None:
        _may_keep(actor, Student(school_id=school.id))
    number = checked_text(student_number, problems, "student_number", max_length=40)
    if number and school is not None and "school_id" not in problems \
            and _number_taken(school.id, number):
        problems["student_number"] = _l("another student of this school has this number")
    school_key = school.id if school is not None else None
    class_id = _unit(class_unit_id, school_key, UnitKind.CLASS, problems, "class_unit_id")
    dormitory_id = _unit(dormitory_unit_id, school_key, UnitKind.DORMITORY, problems,
                         "dormitory_unit_id")
    if problems:
        raise InvalidInput(problems)
    student.school_id, student.student_number = school.id, number
    student.class_unit_id, student.dormitory_unit_id = class_id, dormitory_id
    student.school = school
    audit.record("student.move", student, changes=audit.diff(student))
    return student


# -- finding students ------------------------------------------------------------------------

@dataclass
class Page:
    items: list[Student]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _matching(q: str):
    """Students whose name, 学号 or a guardian's phone matches ``q``."""
    q = (q or "").strip()
    like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    conditions = [Student.name.like(like, escape="\\"),
                  Student.student_number.like(like, escape="\\")]
    digits = re.sub(r"\D", "", q)
    if len(digits) >= 4 and not re.search(r"[^\d\s+\-()]", q):  # a phone, or part of one
        if len(digits) == 13 and digits.startswith("86"):
            digits = digits[2:]
        conditions.append(Student.id.in_(select(Guardian.student_id).where(
            Guardian.phone.like(f"%{digits}%"))))
    return or_(*conditions)


def search(actor, q: str = "", page: int = 1, per_page: int = PER_PAGE) -> Page:
    """The students ``actor`` may see whose name, 学号 or a guardian's phone matches ``q``
    (all of them without ``q``), a page at a time; the list is audited (who was shown)."""
    query = visible(actor, Student)
    if (q or "").strip():
        query = query.where(_matching(q))
    total = db.scalar(select(func.count()).select_from(query.subquery()))
    page = max(1, page)
    items = db.scalars(query.order_by(Student.name, Student.id)
                       .offset((page - 1) * per_page).limit(per_page)).all()
    if items:
        audit.record("student.search", object_type="student", changes={
            "student_ids": {"new": [student.id for student in items]}})
    return Page(items, total, page, per_page)


def pick(actor, q: str, contact_id: int | None = None) -> list[Student]:
    """At most ten students ``actor`` may pick for a case or a contact (see
    ``rules.identifiable``) matching ``q`` of two characters or more; audited."""
    q = (q or "").strip()
    if len(q) < MIN_PICK_LENGTH:
        return []
    contact = db.get(Contact, contact_id) if contact_id is not None else None
    found = db.scalars(select(Student).where(identifiable(actor, contact), _matching(q))
                       .order_by(Student.name, Student.id).limit(PICK_LIMIT)).all()
    if found:
        audit.record("student.pick", object_type="student", changes={
            "student_ids": {"new": [student.id for student in found]}})
    return found


def pickable(actor, student_id: int | None, contact_id: int | None = None) -> Student | None:
    """The student ``actor`` picked, if they may pick that one (else None)."""
    if student_id is None:
        return None
    contact = db.get(Contact, contact_id) if contact_id is not None else None
    return db.scalar(select(Student).where(Student.id == student_id,
                                           identifiable(actor, contact)))


def label(student: Student) -> str:
    """How a picker and a list name a student: name · school · class."""
    parts = [student.name, student.school.name]
    if student.class_unit is not None:
        parts.append(student.class_unit.path)
    return " · ".join(parts)


# -- the file ------------------------------------------------------------------------------

@dataclass
class Entry:
    """One line of a student's timeline: a record the reader may open (``shown``), or one
    of their centre's they could open only by breaking the glass (date and kind only)."""
    kind: str  # case | contact | school_report | follow_up | screening
    at: datetime
    record: object
    shown: bool
    case_id: int | None = None


@dataclass
class StudentFile:
    student: Student
    entries: list[Entry] = field(default_factory=list)


def student_file(actor, student_id: int) -> StudentFile:
    """The student's file as ``actor`` may read it: the profile (read audited) and one
    timeline of every contact, case, school report, follow-up and screening, each as far
    as the access rules allow, each record shown audited as read."""
    student = open_record(actor, "student", student_id)
    entries: list[Entry] = []
    cases = db.scalars(select(Case).where(Case.student_id == student.id)
                       .order_by(Case.id)).all()
    readable_cases = set()
    for case in cases:
        if can(actor, VIEW, case) and not _liaison(actor):
            readable_cases.add(case.id)
            entries.append(Entry("case", case.created_at, case, True, case.id))
        elif may_break_glass(actor, case):
            entries.append(Entry("case", case.created_at, case, False, case.id))
    case_ids = [case.id for case in cases]
    for contact in db.scalars(select(Contact).where(Contact.case_id.in_(case_ids))
                              .order_by(Contact.id)) if case_ids else ():
        if can(actor, VIEW, contact):
            entries.append(Entry("contact", contact.created_at, contact, True, contact.case_id))
        elif may_break_glass(actor, contact):
            entries.append(Entry("contact", contact.created_at, contact, False,
                                 contact.case_id))
    for report in db.scalars(select(SchoolReport).where(SchoolReport.student_id == student.id)
                             .order_by(SchoolReport.id)):
        if can(actor, VIEW, report):
            entries.append(Entry("school_report", report.created_at, report, True))
        elif may_break_glass(actor, report):
            entries.append(Entry("school_report", report.created_at, report, False))
    for follow_up in db.scalars(select(FollowUpContact).where(
            FollowUpContact.case_id.in_(readable_cases)).order_by(FollowUpContact.id)) \
            if readable_cases else ():
        entries.append(Entry("follow_up", follow_up.occurred_at, follow_up, True,
                             follow_up.case_id))
    for result in db.scalars(select(ScreeningResult).where(
            ScreeningResult.student_id == student.id).order_by(ScreeningResult.id)):
        if can(actor, VIEW, result):  # scores: only those who read the school's screenings
            entries.append(Entry("screening", result.created_at, result, True))
    for entry in entries:
        if entry.shown:
            audit.record_read(entry.record, part="student_file")
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return StudentFile(student, entries)


def _liaison(actor) -> bool:
    from crisisline.accounts.models import Role
    return actor.role == Role.HOSPITAL_LIAISON  # sees referrals, never a case file


# -- units, for the import (until crisisline.district's unit-path helper lands) -------------

def top_unit_kind(school: Organisation) -> UnitKind:
    """As the district's units: a college's (高校, 中职, or a school of no kind) first level
    is its 院系, a primary or secondary school's its 年级."""
    return UnitKind.DEPARTMENT if school.school_kind in (
        SchoolKind.UNIVERSITY, SchoolKind.VOCATIONAL, None) else UnitKind.GRADE


def find_or_create_unit(school_id: int, kind: UnitKind, name: str,
                        parent_id: int | None = None, cache: dict | None = None) -> int:
    """The id of the unit ``name`` of ``kind`` under ``parent_id`` in the school, created
    (and audited) when missing. ``cache`` (a dict) saves the lookups of a long import."""
    key = (school_id, kind.value, parent_id, name)
    if cache is not None and key in cache:
        return cache[key]
    unit_id = db.scalar(select(SchoolUnit.id).where(
        SchoolUnit.school_id == school_id, SchoolUnit.kind == kind, SchoolUnit.name == name,
        SchoolUnit.parent_id.is_(None) if parent_id is None
        else SchoolUnit.parent_id == parent_id).limit(1))
    if unit_id is None:
        unit = SchoolUnit(school_id=school_id, kind=kind, name=name, parent_id=parent_id)
        db.add(unit)
        audit.record("school_unit.create", unit, object_type="school_unit",
                     changes=audit.diff(unit))
        db.flush()
        unit_id = unit.id
    if cache is not None:
        cache[key] = unit_id
    return unit_id
