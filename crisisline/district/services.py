"""Setting up the district: hotline centres, schools and their units, hospitals, teams.

Every function takes plain values (codes, names, ids, the text a person typed), checks all
of it first and raises ``InvalidInput`` naming every bad field (changing nothing), then
changes the models and audits each change. None of them commits: the caller (a view, the
import) commits once.

Organisations are known by their code (the natural key of the import and of every other
file that names them); units and teams by their place: a unit's path in its school
(``计算机学院/2023级1班``), a team's name in its centre.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from crisisline import audit
from crisisline.accounts.models import (HospitalKind, HotlineNumber, Membership, Organisation,
                                        OrgKind, Role, SchoolKind, SchoolUnit, Team,
                                        UnitKind, User)
from crisisline.database import Base, db
from crisisline.errors import Conflict, InvalidInput, NotFound
from crisisline.messages import listing
from crisisline.i18n import (HOSPITAL_KIND_LABELS, ORG_KIND_LABELS, SCHOOL_KIND_LABELS,
                             UNIT_KIND_LABELS, choice_named)
from crisisline.validation import PhoneNumberError, name_problem, phone_number

CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
NAME_LENGTH = 200
UNIT_NAME_LENGTH = TEAM_NAME_LENGTH = 120
# what several values in one field may be separated by (a form's text, a file's cell)
SEPARATORS = re.compile(r"[;；,，、\n]+")

# the fields each kind of organisation has, beyond code and name
KIND_FIELDS = {
    OrgKind.HOTLINE_CENTRE: ("hotline_numbers", "backup_line"),
    OrgKind.SCHOOL: ("school_kind", "centre", "designated_hospitals"),
    OrgKind.HOSPITAL: ("hospital_category", "green_channel_phone", "centre"),
}
# where each kind of unit sits: under which kinds (None: at the top of the school)
PARENT_KINDS: dict[UnitKind, frozenset[UnitKind | None]] = {
    UnitKind.DEPARTMENT: frozenset({None}), UnitKind.GRADE: frozenset({None}),
    UnitKind.BUILDING: frozenset({None}),
    UnitKind.CLASS: frozenset({UnitKind.DEPARTMENT, UnitKind.GRADE}),
    UnitKind.DORMITORY: frozenset({UnitKind.BUILDING}),
}
# the people a centre's team may hold
TEAM_ROLES = frozenset({Role.VOLUNTEER, Role.COUNSELOR, Role.SUPERVISOR})


def split_values(text: str | Iterable[str] | None) -> list[str]:
    """Several values typed in one field (``a; b；c``, one a line) or already a list, each
    stripped, the empty ones dropped."""
    if text is None:
        return []
    items = SEPARATORS.split(text) if isinstance(text, str) else \
        [part for item in text for part in SEPARATORS.split(str(item))]
    return [item.strip() for item in items if item.strip()]


# -- organisations -------------------------------------------------------------------------

@dataclass
class Known:
    """What codes and numbers are taken: the database's, or (for an import) also what the
    earlier rows of the file define, through ``codes`` (code -> kind) and ``numbers``
    (number -> centre code), which are consulted first."""

    codes: dict[str, OrgKind] = field(default_factory=dict)
    numbers: dict[str, str] = field(default_factory=dict)

    def kind_of(self, code: str) -> OrgKind | None:
        if code in self.codes:
            return self.codes[code]
        return db.scalar(select(Organisation.kind).where(Organisation.code == code))

    def number_owner(self, number: str) -> str | None:
        if number in self.numbers:
            return self.numbers[number]
        return db.scalar(select(Organisation.code).join(
            HotlineNumber, HotlineNumber.centre_id == Organisation.id)
            .where(HotlineNumber.number == number))


def clean_organisation(kind: OrgKind | str, values: dict, *, new: bool | None = None,
                       known: Known | None = None) -> dict:
    """``values`` (text as typed; several numbers or codes as a list or separated by ``;``)
    checked and made plain for an organisation of ``kind``: the same dict with ``code``,
    ``name``, ``kind`` and the kind's own fields (:data:`KIND_FIELDS`), or InvalidInput
    naming every bad field. A field of another kind that holds a value is an error.
    ``new``: True, the code must be free; False, it must be this kind's; None, either.
    """
    known = known or Known()
    kind = OrgKind(kind)
    problems: dict[str, object] = {}
    clean: dict = {"kind": kind}

    code = (values.get("code") or "").strip()
    existing_kind = known.kind_of(code) if code else None
    if not code:
        problems["code"] = _l("required")
    elif not CODE.fullmatch(code):
        problems["code"] = _l("letters, digits, '.', '_' and '-' only, at most 40 "
                              "characters, starting with a letter or digit")
    elif code.lower() == "new":  # the address of the page that creates one
        problems["code"] = _l("%(code)s cannot be a code", code=code)
    elif new is True and existing_kind is not None:
        problems["code"] = _l("an organisation with the code %(code)s exists already",
                              code=code)
    elif existing_kind not in (None, kind):
        problems["code"] = _l("%(code)s is a %(kind)s, not a %(wanted)s", code=code,
                              kind=ORG_KIND_LABELS[existing_kind.value],
                              wanted=ORG_KIND_LABELS[kind.value])
    elif new is False and existing_kind is None:
        problems["code"] = _l("no organisation has the code %(code)s", code=code)
    clean["code"] = code

    name = " ".join((values.get("name") or "").split())
    if not name:
        problems["name"] = _l("required")
    elif len(name) > NAME_LENGTH:
        problems["name"] = _l("must have at most %(max)d characters", max=NAME_LENGTH)
    elif (problem := name_problem(name)) is not None:
        problems["name"] = problem
    clean["name"] = name

    for other in {f for fields in KIND_FIELDS.values() for f in fields} - set(KIND_FIELDS[kind]):
        if split_values(values.get(other)):
            problems[other] = _l("only for a %(kind)s", kind=_owner_of(other))

    if "hotline_numbers" in KIND_FIELDS[kind]:
        numbers, bad = [], []
        for typed in split_values(values.get("hotline_numbers")):
            try:
                number = phone_number(typed)
            except PhoneNumberError as error:
                bad.append(_l("%(typed)s: %(problem)s", typed=typed, problem=error.message))
                continue
            owner = known.number_owner(number)
            if owner not in (None, code):
                bad.append(_l("%(number)s is already a number of %(owner)s", number=number,
                              owner=owner))
            elif number not in numbers:
                numbers.append(number)
        if bad:
            problems["hotline_numbers"] = listing(bad)
        clean["hotline_numbers"] = numbers
    for phone_field in ("backup_line", "green_channel_phone"):
        if phone_field in KIND_FIELDS[kind]:
            typed = (values.get(phone_field) or "").strip()
            clean[phone_field] = None
            if typed:
                try:
                    clean[phone_field] = phone_number(typed)
                except PhoneNumberError as error:
                    problems[phone_field] = error.message
    if "centre" in KIND_FIELDS[kind]:
        centre = (values.get("centre") or "").strip()
        clean["centre"] = centre or None
        if not centre:
            if kind == OrgKind.SCHOOL:
                problems["centre"] = _l("a school needs the hotline centre that serves it")
        elif known.kind_of(centre) != OrgKind.HOTLINE_CENTRE:
            problems["centre"] = _l("no hotline centre has the code %(code)s", code=centre)
    if "school_kind" in KIND_FIELDS[kind]:
        clean["school_kind"] = _enum(SchoolKind, SCHOOL_KIND_LABELS, values.get("school_kind"),
                                     "school_kind", problems)
    if "hospital_category" in KIND_FIELDS[kind]:
        clean["hospital_category"] = _enum(HospitalKind, HOSPITAL_KIND_LABELS,
                                           values.get("hospital_category"),
                                           "hospital_category", problems)
    if "designated_hospitals" in KIND_FIELDS[kind]:
        hospitals = []
        for hospital in split_values(values.get("designated_hospitals")):
            if known.kind_of(hospital) != OrgKind.HOSPITAL:
                problems["designated_hospitals"] = _l("no hospital has the code %(code)s",
                                                      code=hospital)
                break
            if hospital not in hospitals:
                hospitals.append(hospital)
        clean["designated_hospitals"] = sorted(hospitals)
    if problems:
        raise InvalidInput(problems)
    return clean


def _owner_of(field_name: str):
    kinds = [kind for kind, fields in KIND_FIELDS.items() if field_name in fields]
    if len(kinds) == 1:
        return ORG_KIND_LABELS[kinds[0].value]
    return _l("%(first)s or %(second)s", first=ORG_KIND_LABELS[kinds[0].value],
              second=ORG_KIND_LABELS[kinds[1].value])


def _enum(enum_class, labels: dict, text, field_name: str, problems: dict):
    typed = (text or "").strip() if isinstance(text, str) else \
        (text.value if text is not None else "")
    if not typed:
        problems[field_name] = _l("required")
        return None
    key = choice_named(labels, typed)
    if key is None:
        problems[field_name] = _l("choose one of: %(choices)s",
                                  choices=listing(list(labels.values())))
        return None
    return enum_class(key)


def save_organisation(clean: dict) -> tuple[Organisation, str]:
    """Create or update the organisation ``clean`` (from :func:`clean_organisation`)
    describes: ``(organisation, "created" | "updated" | "unchanged")``. An unchanged one
    records no audit entry."""
    org = Organisation.by_code(clean["code"])
    created = org is None
    if created:
        org = Organisation(code=clean["code"], kind=clean["kind"], name=clean["name"])
        db.add(org)
    elif org.kind != clean["kind"]:  # clean_organisation refuses it; never change a kind
        raise InvalidInput({"code": _l("%(code)s is a %(kind)s, not a %(wanted)s",
                                       code=org.code, kind=ORG_KIND_LABELS[org.kind.value],
                                       wanted=ORG_KIND_LABELS[clean["kind"].value])})
    before = _described(org) if not created else {}
    org.name = clean["name"]
    fields = KIND_FIELDS[org.kind]
    if "centre" in fields:
        centre = Organisation.by_code(clean["centre"]) if clean["centre"] else None
        org.centre_id = centre.id if centre else None
    if "backup_line" in fields:
        org.backup_line = clean["backup_line"]
    if "green_channel_phone" in fields:
        org.green_channel_phone = clean["green_channel_phone"]
    if "school_kind" in fields:
        org.school_kind = clean["school_kind"]
    if "hospital_category" in fields:
        org.hospital_kind = clean["hospital_category"]
    if "hotline_numbers" in fields:
        _set_numbers(org, clean["hotline_numbers"])
    if "designated_hospitals" in fields:
        org.designated_hospitals = [Organisation.by_code(code)
                                    for code in clean["designated_hospitals"]]
    after = _described(org)
    changes = {key: {"old": before.get(key), "new": value} for key, value in after.items()
               if before.get(key) != value}
    if not changes:
        return org, "unchanged"
    db.flush()
    audit.record("organisation.create" if created else "organisation.update", org,
                 changes=changes)
    return org, "created" if created else "updated"


def _set_numbers(centre: Organisation, numbers: list[str]) -> None:
    """The centre's numbers become ``numbers``: those it keeps keep their rows (and so
    their order: the first stays the one it calls and texts from), new ones come after."""
    kept = [row for row in centre.numbers if row.number in numbers]
    kept_numbers = {row.number for row in kept}
    centre.numbers = kept + [HotlineNumber(number=number) for number in numbers
                             if number not in kept_numbers]


def _described(org: Organisation) -> dict:
    """The organisation as its audit entries describe it: codes and values, not ids."""
    described = {"code": org.code, "name": org.name, "kind": org.kind.value}
    fields = KIND_FIELDS[org.kind]
    if "centre" in fields:
        centre = db.get(Organisation, org.centre_id) if org.centre_id else None
        described["centre"] = centre.code if centre else None
    if "hotline_numbers" in fields:
        described["hotline_numbers"] = sorted(row.number for row in org.numbers)
        described["backup_line"] = org.backup_line
    if "school_kind" in fields:
        described["school_kind"] = org.school_kind.value if org.school_kind else None
        described["designated_hospitals"] = sorted(h.code for h in org.designated_hospitals)
    if "hospital_category" in fields:
        described["hospital_kind"] = org.hospital_kind.value if org.hospital_kind else None
        described["green_channel_phone"] = org.green_channel_phone
    return described


def current_values(org: Organisation) -> dict:
    """An organisation's values as :func:`clean_organisation` takes them (for an update
    that changes only some fields)."""
    values = {"code": org.code, "name": org.name}
    fields = KIND_FIELDS[org.kind]
    if "centre" in fields:
        centre = db.get(Organisation, org.centre_id) if org.centre_id else None
        values["centre"] = centre.code if centre else ""
    if "hotline_numbers" in fields:
        values["hotline_numbers"] = [row.number for row in org.numbers]
        values["backup_line"] = org.backup_line or ""
    if "school_kind" in fields:
        values["school_kind"] = org.school_kind.value if org.school_kind else ""
        values["designated_hospitals"] = [h.code for h in org.designated_hospitals]
    if "hospital_category" in fields:
        values["hospital_category"] = org.hospital_kind.value if org.hospital_kind else ""
        values["green_channel_phone"] = org.green_channel_phone or ""
    return values


def create_organisation(kind: OrgKind | str, **values) -> Organisation:
    """A new hotline centre, school or hospital; its code must be free. ``values``: code,
    name and the kind's fields (:data:`KIND_FIELDS`), as typed."""
    return save_organisation(clean_organisation(kind, values, new=True))[0]


def update_organisation(kind: OrgKind | str, code: str, **values) -> Organisation:
    """Change the organisation ``code`` (of ``kind``): the fields given in ``values``
    (as typed); the others keep their values. The code itself does not change: other
    files and records name the organisation by it."""
    org = get_organisation(kind, code)
    merged = {**current_values(org), **values, "code": org.code}
    return save_organisation(clean_organisation(kind, merged, new=False))[0]


def create_centre(code: str, name: str, hotline_numbers=(), backup_line: str | None = None):
    """A hotline centre with its numbers (as typed; stored in E.164) and backup line."""
    return create_organisation(OrgKind.HOTLINE_CENTRE, code=code, name=name,
                               hotline_numbers=hotline_numbers, backup_line=backup_line)


def create_school(code: str, name: str, school_kind: str, centre: str,
                  designated_hospitals=()):
    """A school (``school_kind``: a SchoolKind value or its label, e.g. 高校) served by the
    centre coded ``centre``, with its designated hospitals (hospital codes)."""
    return create_organisation(OrgKind.SCHOOL, code=code, name=name, school_kind=school_kind,
                               centre=centre, designated_hospitals=designated_hospitals)


def create_hospital(code: str, name: str, hospital_category: str,
                    green_channel_phone: str | None = None, centre: str | None = None):
    """A hospital of ``hospital_category`` (a HospitalKind value or its label), with its
    green-channel phone and the centre it works with (a code, optional)."""
    return create_organisation(OrgKind.HOSPITAL, code=code, name=name,
                               hospital_category=hospital_category,
                               green_channel_phone=green_channel_phone, centre=centre)


def get_organisation(kind: OrgKind | str, code: str) -> Organisation:
    org = Organisation.by_code(code)
    if org is None or org.kind != OrgKind(kind):
        raise NotFound(_l("no %(kind)s has the code %(code)s",
                          kind=ORG_KIND_LABELS[OrgKind(kind).value], code=code))
    return org


def organisations(kind: OrgKind | str) -> list[Organisation]:
    return list(db.scalars(select(Organisation).where(Organisation.kind == OrgKind(kind))
                           .order_by(Organisation.code)))


# -- school units ----------------------------------------------------------------------------

def _unit_name(name: str, problems: dict, field_name: str = "name") -> str:
    name = " ".join((name or "").split())
    if not name:
        problems[field_name] = _l("required")
    elif "/" in name:
        problems[field_name] = _l("a unit's name may not contain '/' (it separates the "
                                  "levels of a path)")
    elif len(name) > UNIT_NAME_LENGTH:
        problems[field_name] = _l("must have at most %(max)d characters", max=UNIT_NAME_LENGTH)
    elif (problem := name_problem(name)) is not None:
        problems[field_name] = problem
    return name


def _sibling(school_id: int, parent_id: int | None, name: str) -> SchoolUnit | None:
    return db.scalar(select(SchoolUnit).where(
        SchoolUnit.school_id == school_id, SchoolUnit.name == name,
        SchoolUnit.parent_id.is_(None) if parent_id is None
        else SchoolUnit.parent_id == parent_id).limit(1))


def _unit_kind(kind, problems: dict) -> UnitKind | None:
    if isinstance(kind, UnitKind):
        return kind
    key = choice_named(UNIT_KIND_LABELS, kind or "")
    if key is None:
        problems["kind"] = _l("choose one of: %(choices)s",
                              choices=listing(list(UNIT_KIND_LABELS.values())))
        return None
    return UnitKind(key)


def _school(school) -> Organisation:
    if isinstance(school, Organisation):
        return school
    org = db.get(Organisation, school) if isinstance(school, int) else \
        Organisation.by_code(school)
    if org is None or org.kind != OrgKind.SCHOOL:
        raise NotFound(_l("no %(kind)s has the code %(code)s",
                          kind=ORG_KIND_LABELS["school"], code=str(school)))
    return org


def add_unit(school, kind: UnitKind | str, name: str,
             parent_id: int | None = None) -> SchoolUnit:
    """A new unit of ``school`` (an id, a code or the school): a 院系/年级 or a 宿舍楼 at
    the top, a 班级 under a 院系/年级, a 宿舍 (room) under its 宿舍楼. Its name is unique
    among its siblings."""
    school = _school(school)
    problems: dict[str, object] = {}
    unit_kind = _unit_kind(kind, problems)
    name = _unit_name(name, problems)
    parent = db.get(SchoolUnit, parent_id) if parent_id else None
    if parent_id and (parent is None or parent.school_id != school.id):
        problems["parent"] = _l("not a unit of this school")
    elif unit_kind is not None and (parent.kind if parent else None) \
            not in PARENT_KINDS[unit_kind]:
        problems["parent"] = _placement(unit_kind)
    if not problems and _sibling(school.id, parent.id if parent else None, name):
        problems["name"] = _l("%(parent)s already has a unit named %(name)s",
                              parent=parent.path if parent else school.name, name=name)
    if problems:
        raise InvalidInput(problems)
    unit = SchoolUnit(school_id=school.id, parent=parent, kind=unit_kind, name=name)
    db.add(unit)
    db.flush()
    audit.record("school_unit.create", unit, object_type="school_unit", changes={
        "school": {"new": school.code}, "unit": {"new": unit.path},
        "kind": {"new": unit_kind.value}})
    return unit


def _placement(kind: UnitKind):
    allowed = PARENT_KINDS[kind]
    if allowed == {None}:
        return _l("a %(kind)s sits at the top of the school, under no other unit",
                  kind=UNIT_KIND_LABELS[kind.value])
    parents = sorted(allowed, key=lambda k: k.value)
    names = UNIT_KIND_LABELS[parents[0].value] if len(parents) == 1 else _l(
        "%(first)s or %(second)s", first=UNIT_KIND_LABELS[parents[0].value],
        second=UNIT_KIND_LABELS[parents[1].value])
    return _l("a %(kind)s belongs under a %(parents)s", kind=UNIT_KIND_LABELS[kind.value],
              parents=names)


def rename_unit(unit_id: int, name: str) -> SchoolUnit:
    unit = get_unit(unit_id)
    problems: dict[str, object] = {}
    name = _unit_name(name, problems)
    if not problems and name != unit.name and _sibling(unit.school_id, unit.parent_id, name):
        problems["name"] = _l("%(parent)s already has a unit named %(name)s",
                              parent=unit.parent.path if unit.parent else unit.school.name,
                              name=name)
    if problems:
        raise InvalidInput(problems)
    if name != unit.name:
        old = unit.path
        unit.name = name
        audit.record("school_unit.rename", unit, object_type="school_unit", changes={
            "school": {"new": unit.school.code}, "unit": {"old": old, "new": unit.path}})
    return unit


def remove_unit(unit_id: int) -> None:
    """Remove a unit that holds nothing: no units under it, no students, no staff."""
    unit = get_unit(unit_id)
    if _referenced("school_units", unit.id):
        raise Conflict(_l("%(unit)s still holds units, students or staff: move or remove "
                          "them first", unit=unit.path))
    audit.record("school_unit.remove", object_type="school_unit", object_id=unit.id, changes={
        "school": {"new": unit.school.code}, "unit": {"old": unit.path},
        "kind": {"old": unit.kind.value}})
    db.delete(unit)
    db.flush()


def get_unit(unit_id: int) -> SchoolUnit:
    unit = db.get(SchoolUnit, unit_id)
    if unit is None:
        raise NotFound(_l("Not found."))
    return unit


def ensure_unit(school, path: str, *, kind: UnitKind | str) -> SchoolUnit:
    """The unit at ``path`` in ``school`` (an id, a code or the school), created with the
    units above it when missing (each creation audited): ``"计算机学院/2023级1班"`` with
    ``kind=UnitKind.CLASS`` is the class under the department (a 年级 instead for a
    primary or secondary school), ``"1号楼/302"`` with ``kind=UnitKind.DORMITORY`` the
    room in its building; a top-level kind takes a path of one name. Raises InvalidInput
    on the field ``unit`` when the path does not fit the kind (a class without its
    院系/年级, a name with bad characters), or when a unit on the path exists with
    another kind."""
    school = _school(school)
    problems: dict[str, object] = {}
    kind = _unit_kind(kind, problems)
    if kind is None:
        raise InvalidInput(problems)
    names = [" ".join(part.split()) for part in (path or "").split("/")]
    top_level = PARENT_KINDS[kind] == {None}
    if any(not name for name in names) or len(names) != (1 if top_level else 2):
        raise InvalidInput({"unit": _l("a %(kind)s is written as %(example)s",
                                       kind=UNIT_KIND_LABELS[kind.value],
                                       example=_EXAMPLES[kind])})
    for name in names:
        _unit_name(name, problems, "unit")
    if problems:
        raise InvalidInput(problems)
    parent = None
    if not top_level:
        parent_kind = UnitKind.BUILDING if kind == UnitKind.DORMITORY else \
            UnitKind.DEPARTMENT if school.school_kind in (SchoolKind.UNIVERSITY,
                                                          SchoolKind.VOCATIONAL, None) \
            else UnitKind.GRADE
        parent = _existing_or_new(school, None, names[0], parent_kind,
                                  accept=PARENT_KINDS[kind])
    return _existing_or_new(school, parent, names[-1], kind, accept={kind})


_EXAMPLES = {UnitKind.CLASS: "计算机学院/2023级1班", UnitKind.DORMITORY: "1号楼/302",
             UnitKind.DEPARTMENT: "计算机学院", UnitKind.GRADE: "初一",
             UnitKind.BUILDING: "1号楼"}


def _existing_or_new(school: Organisation, parent: SchoolUnit | None, name: str,
                     kind: UnitKind, accept) -> SchoolUnit:
    unit = _sibling(school.id, parent.id if parent else None, name)
    if unit is None:
        return add_unit(school, kind, name, parent.id if parent else None)
    if unit.kind not in accept:
        raise InvalidInput({"unit": _l("%(unit)s is a %(kind)s, not a %(wanted)s",
                                       unit=unit.path, kind=UNIT_KIND_LABELS[unit.kind.value],
                                       wanted=UNIT_KIND_LABELS[kind.value])})
    return unit


def unit_tree(school_id: int) -> list[tuple[SchoolUnit, int]]:
    """The school's units in reading order, each with its depth (0 at the top)."""
    units = db.scalars(select(SchoolUnit).where(SchoolUnit.school_id == school_id)
                       .order_by(SchoolUnit.name, SchoolUnit.id)).all()
    children: dict[int | None, list[SchoolUnit]] = {}
    for unit in units:
        children.setdefault(unit.parent_id, []).append(unit)
    order = {kind: n for n, kind in enumerate(UnitKind)}
    tree: list[tuple[SchoolUnit, int]] = []

    def walk(parent_id, depth):
        for unit in sorted(children.get(parent_id, []),
                           key=lambda u: (order[u.kind], u.name)):
            tree.append((unit, depth))
            walk(unit.id, depth + 1)
    walk(None, 0)
    return tree


def _referenced(table_name: str, row_id: int, *, ignore: Iterable[str] = ()) -> bool:
    """Whether any row of any table (beyond those in ``ignore``) points at the row: found
    from the schema, so a table added later is counted too."""
    for table in Base.metadata.tables.values():
        if table.name in ignore:
            continue
        for foreign_key in table.foreign_keys:
            if foreign_key.column.table.name == table_name and db.scalar(
                    select(func.count()).select_from(table)
                    .where(foreign_key.parent == row_id)):
                return True
    return False


# -- teams -----------------------------------------------------------------------------------

def _team_name(name: str, centre_id: int, problems: dict, *, except_id: int | None = None):
    name = " ".join((name or "").split())
    if not name:
        problems["name"] = _l("required")
    elif len(name) > TEAM_NAME_LENGTH:
        problems["name"] = _l("must have at most %(max)d characters", max=TEAM_NAME_LENGTH)
    elif (problem := name_problem(name)) is not None:
        problems["name"] = problem
    elif db.scalar(select(Team.id).where(Team.centre_id == centre_id, Team.name == name,
                                         Team.id != (except_id or 0))):
        problems["name"] = _l("the centre already has a team named %(name)s", name=name)
    return name


def create_team(centre: str | int, name: str) -> Team:
    """A new team of the hotline centre ``centre`` (its code or id)."""
    centre_org = db.get(Organisation, centre) if isinstance(centre, int) else \
        Organisation.by_code(centre)
    if centre_org is None or centre_org.kind != OrgKind.HOTLINE_CENTRE:
        raise NotFound(_l("no %(kind)s has the code %(code)s",
                          kind=ORG_KIND_LABELS["hotline_centre"], code=str(centre)))
    problems: dict[str, object] = {}
    name = _team_name(name, centre_org.id, problems)
    if problems:
        raise InvalidInput(problems)
    team = Team(centre_id=centre_org.id, name=name)
    db.add(team)
    db.flush()
    audit.record("team.create", team, changes={"centre": {"new": centre_org.code},
                                               "name": {"new": name}})
    return team


def get_team(team_id: int) -> Team:
    team = db.get(Team, team_id)
    if team is None:
        raise NotFound(_l("Not found."))
    return team


def rename_team(team_id: int, name: str) -> Team:
    team = get_team(team_id)
    problems: dict[str, object] = {}
    name = _team_name(name, team.centre_id, problems, except_id=team.id)
    if problems:
        raise InvalidInput(problems)
    if name != team.name:
        audit.record("team.rename", team, changes={"name": {"old": team.name, "new": name}})
        team.name = name
    return team


def remove_team(team_id: int) -> None:
    """Remove a team no case is assigned to (its members simply leave it)."""
    team = get_team(team_id)
    if _referenced("teams", team.id, ignore={"team_members"}):
        raise Conflict(_l("cases are assigned to the team %(name)s: it cannot be removed",
                          name=team.name))
    audit.record("team.remove", object_type="team", object_id=team.id, changes={
        "name": {"old": team.name},
        "member": {"old": [user.username for user in team.members]}})
    team.members = []
    db.delete(team)
    db.flush()


def centre_staff(centre_id: int) -> list[User]:
    """The active people of the centre a team may hold, by name."""
    return list(db.scalars(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.organisation_id == centre_id, User.role.in_(TEAM_ROLES),
               User.disabled_at.is_(None))
        .order_by(User.display_name, User.username)))


_NAMED = re.compile(r"^(?P<name>.*?)\s*[(（](?P<username>[^()（）]+)[)）]\s*$")


def find_staff(centre_id: int, person: str) -> User:
    """The centre's staff member ``person`` names: their username, their name, or
    "name (username)" as the page's list offers them. InvalidInput on ``member`` when
    nobody, or several people, fit."""
    text = " ".join((person or "").split())
    if not text:
        raise InvalidInput({"member": _l("required")})
    staff = centre_staff(centre_id)
    named = _NAMED.match(text)
    candidates = [user for user in staff if user.username.lower() == (
        named.group("username").strip().lower() if named else text.lower())]
    if not candidates:
        candidates = [user for user in staff if user.display_name == text]
    if len(candidates) > 1:
        raise InvalidInput({"member": _l("several people are named %(name)s: choose one by "
                                         "username", name=text)})
    if not candidates:
        raise InvalidInput({"member": _l("nobody of this centre's hotline staff is named "
                                         "%(name)s", name=text)})
    return candidates[0]


def add_team_member(team_id: int, person: str) -> User:
    """Put the centre's staff member ``person`` (see :func:`find_staff`) on the team."""
    team = get_team(team_id)
    user = find_staff(team.centre_id, person)
    # by id: a User's == compares sign-in sessions
    if any(member.id == user.id for member in team.members):
        raise Conflict(_l("%(name)s is already on the team", name=user.display_name))
    team.members.append(user)
    audit.record("team.member_add", team, changes={"member": {"new": user.username}})
    return user


def remove_team_member(team_id: int, username: str) -> None:
    team = get_team(team_id)
    user = next((member for member in team.members
                 if member.username.lower() == (username or "").lower()), None)
    if user is None:
        raise NotFound(_l("%(name)s is not on the team", name=username))
    team.members = [member for member in team.members if member.id != user.id]
    audit.record("team.member_remove", team, changes={"member": {"old": user.username}})


def teams_of(centre_id: int) -> list[Team]:
    return list(db.scalars(select(Team).where(Team.centre_id == centre_id)
                           .order_by(Team.name)))
