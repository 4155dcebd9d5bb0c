"""Access rules: the one place that decides who may view or edit which record.

Deny by default. A rule is registered for a (record type, action, role) and decides from
the relationship between the user and the record, not from the role alone:

- a volunteer sees the contacts they answered and acts on those still theirs (not after a
  transfer to a counselor);
- a counselor the cases assigned to them or to a team of theirs (the centre's on-duty
  team), and what hangs off those cases;
- a supervisor everything in their centre;
- a hospital liaison only referrals to their own hospital;
- a reporter what they reported (the school network's rules: ``schoolnet.access``);
- an admin the students' profiles of every school (to keep the district's records), and
  none of the casework about them.

Beyond that, a counselor or supervisor may *view* one record of their own centre through
an active break-the-glass grant (see :mod:`crisisline.access.services`); another centre's
records stay shut, grant or not.
"""
from __future__ import annotations

from typing import Any, Callable

from flask import g, has_app_context
from sqlalchemy import ColumnElement, Select, String, cast, false, func, or_, select, true

from casework.models import Case, Referral, Student
from crisisline.access.models import BreakGlassGrant
from crisisline.accounts.models import (Membership, OrgKind, Organisation, Role, TeamMember,
                                        User)
from crisisline.audit.models import AuditEntry
from crisisline.database import Base, db, utcnow
from hotline.models import Contact
from schoolnet.models import SchoolReport

VIEW, EDIT = "view", "edit"
ACTIONS = (VIEW, EDIT)

#: record types by the name used in URLs, audit entries and break-glass grants
RECORD_TYPES: dict[str, type] = {
    "case": Case, "contact": Contact, "referral": Referral,
    "school_report": SchoolReport, "student": Student,
}
BREAK_GLASS_ROLES = frozenset({Role.COUNSELOR, Role.SUPERVISOR})

Rule = Callable[[User, Any], bool]
Scope = Callable[[User], ColumnElement[bool]]
_RULES: dict[tuple[type, str, Role], Rule] = {}
_SCOPES: dict[tuple[type, Role], Scope] = {}


def rule(model: type, actions: tuple[str, ...], *roles: Role):
    def register(check: Rule) -> Rule:
        for action in actions:
            for role in roles:
                key = (model, action, role)
                if key in _RULES:
                    raise RuntimeError(f"two access rules for {key}")
                _RULES[key] = check
        return check
    return register


def scope(model: type, *roles: Role):
    """Register the SQL form of the VIEW rule, for listing records a user may see."""
    def register(where: Scope) -> Scope:
        for role in roles:
            _SCOPES[(model, role)] = where
        return where
    return register


def visible(user: User, model: type) -> Select:
    """``select(model)`` narrowed to the records ``user`` may view (no grants: lists never
    include a break-the-glass record, which is opened one at a time)."""
    where = _SCOPES.get((model, user.role)) if user.is_active else None
    return select(model).where(where(user) if where else false())


def registered_rules() -> set[tuple[str, str, str]]:
    """(record type, action, role) for every rule: the access matrix tests cover these."""
    return {(model.__name__, action, role.value) for model, action, role in _RULES}


def can(user: User | None, action: str, obj: Any) -> bool:
    """May ``user`` do ``action`` on ``obj``? False unless a rule or a grant says yes."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    check = _RULES.get((type(obj), action, user.role))
    if check is not None and check(user, obj):
        return True
    return action == VIEW and has_break_glass(user, obj)


def in_scope(user: User, action: str, obj: Any) -> bool:
    """Like :func:`can` without break-the-glass grants: the user's own scope."""
    check = _RULES.get((type(obj), action, user.role))
    return bool(user.is_active and check is not None and check(user, obj))


def may_break_glass(user: User, obj: Any) -> bool:
    """May ``user`` ask for a grant on ``obj`` at all? Counselors and supervisors, on a
    record of their own centre: another centre never learns of a grant on its records, so
    reaching into it is not allowed (ask that centre instead)."""
    return user.is_active and user.role in BREAK_GLASS_ROLES and \
        record_type_name(obj) is not None and record_centre_id(obj) in user.centre_ids


def record_centre_id(obj: Any) -> int | None:
    """The hotline centre a record belongs to."""
    if isinstance(obj, (Case, Contact)):
        return obj.centre_id
    if isinstance(obj, Referral):
        return obj.case.centre_id
    if isinstance(obj, (SchoolReport, Student)):
        return school_centre_id(obj.school_id)
    return None


def has_break_glass(user: User, obj: Any) -> bool:
    if not may_break_glass(user, obj):
        return False
    name = record_type_name(obj)
    return db.scalar(select(BreakGlassGrant.id).where(
        BreakGlassGrant.user_id == user.id, BreakGlassGrant.object_type == name,
        BreakGlassGrant.object_id == obj.id, BreakGlassGrant.expires_at > utcnow(),
    ).limit(1)) is not None


def record_type_name(obj: Any) -> str | None:
    for name, model in RECORD_TYPES.items():
        if isinstance(obj, model):
            return name
    return None


def hospitals_following(case: Case) -> set[int]:
    """The hospitals whose liaisons may view ``case`` now (the same relationship as the
    liaisons' rule below): the consoles of no other hospital hear of its changes."""
    current = max(case.referrals, default=None,  # one not flushed yet is the newest
                  key=lambda referral: (referral.id is None, referral.id or 0))
    return {current.hospital_id} if case.state == "hospital_transfer" and current else set()


# -- relationships ------------------------------------------------------------------------

def team_ids(user: User) -> set[int]:
    return cached(("teams", user.id), lambda: set(db.scalars(
        select(TeamMember.team_id).where(TeamMember.user_id == user.id))))


def school_centre_id(school_id: int) -> int | None:
    return db.scalar(select(Organisation.centre_id).where(Organisation.id == school_id))


def cached(key, compute: Callable[[], Any]) -> Any:
    """``compute()``, remembered for the rest of the request (a relationship that many
    rule checks of one request ask about)."""
    if not has_app_context():
        return compute()
    cache = g.setdefault("access_cache", {})
    if key not in cache:
        cache[key] = compute()
    return cache[key]


# -- contacts -----------------------------------------------------------------------------

@rule(Contact, (VIEW,), Role.VOLUNTEER)
def _volunteer_views_contact(user: User, contact: Contact) -> bool:
    return user.id in (contact.handled_by_id, contact.answered_by_id)


@rule(Contact, (EDIT,), Role.VOLUNTEER)
def _volunteer_edits_contact(user: User, contact: Contact) -> bool:
    return contact.handled_by_id == user.id


@rule(Contact, (VIEW,), Role.COUNSELOR)
def _counselor_views_contact(user: User, contact: Contact) -> bool:
    if contact.handled_by_id == user.id:
        return True
    case = db.get(Case, contact.case_id) if contact.case_id else None
    return case is not None and _counselor_case(user, case)


@rule(Contact, (EDIT,), Role.COUNSELOR)
def _counselor_edits_contact(user: User, contact: Contact) -> bool:
    return contact.handled_by_id == user.id


@rule(Contact, ACTIONS, Role.SUPERVISOR)
def _supervisor_contact(user: User, contact: Contact) -> bool:
    return contact.centre_id in user.centre_ids


# -- cases --------------------------------------------------------------------------------

@rule(Case, ACTIONS, Role.COUNSELOR)
def _counselor_case(user: User, case: Case) -> bool:
    return case.owner_id == user.id or (case.team_id is not None
                                        and case.team_id in team_ids(user))


@rule(Case, ACTIONS, Role.SUPERVISOR)
def _supervisor_case(user: User, case: Case) -> bool:
    return case.centre_id in user.centre_ids


@rule(Case, (VIEW,), Role.HOSPITAL_LIAISON)
def _liaison_views_case_in_transfer(user: User, case: Case) -> bool:
    """While a student is being taken to their hospital (the current referral's), so they
    can confirm arrival; an earlier referral to them gives no such view."""
    return bool(hospitals_following(case) & user.organisation_ids(OrgKind.HOSPITAL))


# -- referrals ----------------------------------------------------------------------------

@rule(Referral, ACTIONS, Role.HOSPITAL_LIAISON)
def _liaison_referral(user: User, referral: Referral) -> bool:
    return referral.hospital_id in user.organisation_ids(OrgKind.HOSPITAL)


@rule(Referral, ACTIONS, Role.COUNSELOR)
def _counselor_referral(user: User, referral: Referral) -> bool:
    return _counselor_case(user, referral.case)


@rule(Referral, ACTIONS, Role.SUPERVISOR)
def _supervisor_referral(user: User, referral: Referral) -> bool:
    return referral.case.centre_id in user.centre_ids


# -- students (一生一案) -------------------------------------------------------------------
# A student's file: the counselor working one of the student's cases reads it and corrects
# it (a guardian's new phone learnt during the crisis); the supervisors of the centre that
# serves the student's school read, create and edit the school's students; an admin keeps
# every school's students (the profile: the casework in the file follows its own rules,
# and an admin has none). Creating a student, or moving one to another school, is an edit
# of the student as it would be at that school (``casework.students``): so a counselor
# creates and moves nobody, and a supervisor moves only between schools of their centre.

@rule(Student, ACTIONS, Role.COUNSELOR)
def _counselor_student(user: User, student: Student) -> bool:
    return any(_counselor_case(user, case) for case in student.cases)


@rule(Student, ACTIONS, Role.SUPERVISOR)
def _supervisor_student(user: User, student: Student) -> bool:
    return school_centre_id(student.school_id) in user.centre_ids


@rule(Student, ACTIONS, Role.ADMIN)
def _admin_student(user: User, _student: Student) -> bool:
    return True


# -- the system itself --------------------------------------------------------------------

@rule(AuditEntry, (VIEW,), Role.SUPERVISOR)
def _supervisor_reads_audit(user: User, _entry: AuditEntry) -> bool:
    return True


@rule(User, ACTIONS, Role.ADMIN)
def _admin_manages_users(user: User, _other: User) -> bool:
    return True


@rule(BreakGlassGrant, ACTIONS, Role.SUPERVISOR)
def _supervisor_reviews_grant(user: User, grant: BreakGlassGrant) -> bool:
    return grant.user_id != user.id and bool(grant.user.centre_ids & user.centre_ids)


# -- the same rules as SQL, for lists -------------------------------------------------------

def schools_served_by(centre_ids: set[int]):
    return select(Organisation.id).where(Organisation.centre_id.in_(centre_ids))


@scope(Case, Role.COUNSELOR)
def _counselor_cases(user: User):
    return or_(Case.owner_id == user.id, Case.team_id.in_(team_ids(user)))


@scope(Case, Role.SUPERVISOR)
def _supervisor_cases(user: User):
    return Case.centre_id.in_(user.centre_ids)


@scope(Case, Role.HOSPITAL_LIAISON)
def _liaison_cases(user: User):
    current = select(func.max(Referral.id)).group_by(Referral.case_id)
    return (Case.state == "hospital_transfer") & Case.id.in_(
        select(Referral.case_id).where(Referral.id.in_(current), _liaison_referrals(user)))


@scope(Contact, Role.VOLUNTEER)
def _volunteer_contacts(user: User):
    return or_(Contact.handled_by_id == user.id, Contact.answered_by_id == user.id)


@scope(Contact, Role.COUNSELOR)
def _counselor_contacts(user: User):
    return or_(Contact.handled_by_id == user.id,
               Contact.case_id.in_(select(Case.id).where(_counselor_cases(user))))


@scope(Contact, Role.SUPERVISOR)
def _supervisor_contacts(user: User):
    return Contact.centre_id.in_(user.centre_ids)


@scope(Referral, Role.HOSPITAL_LIAISON)
def _liaison_referrals(user: User):
    return Referral.hospital_id.in_(user.organisation_ids(OrgKind.HOSPITAL))


@scope(Referral, Role.COUNSELOR)
def _counselor_referrals(user: User):
    return Referral.case_id.in_(select(Case.id).where(_counselor_cases(user)))


@scope(Referral, Role.SUPERVISOR)
def _supervisor_referrals(user: User):
    return Referral.case_id.in_(select(Case.id).where(_supervisor_cases(user)))


@scope(Student, Role.COUNSELOR)
def _counselor_students(user: User):
    return Student.id.in_(select(Case.student_id).where(_counselor_cases(user)))


@scope(Student, Role.SUPERVISOR)
def _supervisor_students(user: User):
    return Student.school_id.in_(schools_served_by(user.centre_ids))


@scope(Student, Role.ADMIN)
def _admin_students(user: User):
    return true()


def identifiable(user: User, contact: Contact | None = None) -> ColumnElement[bool]:
    """The students ``user`` may *pick* (by name, 学号 or a guardian's phone) to open a case
    on them or to link a contact to them: the students of the schools their centre serves,
    of which a picker shows only name, school and class, never the file. Counselors and
    supervisors open cases for their centre; a volunteer only while acting on ``contact``
    (one they may edit), among the students of that contact's centre. Nobody else."""
    if not user.is_active:
        return false()
    if user.role in (Role.COUNSELOR, Role.SUPERVISOR):
        return Student.school_id.in_(schools_served_by(user.centre_ids))
    if user.role == Role.VOLUNTEER and contact is not None and can(user, EDIT, contact):
        return Student.school_id.in_(schools_served_by({contact.centre_id}))
    return false()


@scope(AuditEntry, Role.SUPERVISOR)
def _supervisor_audit_entries(user: User):
    """The entries that touch the centre: its records (cases, contacts, students of its
    schools, referrals, school reports, grants, and every record that hangs off a case or a
    contact) and its staff (members of the centre and of its schools and hospitals: what
    they did, refusals included, and what was done to their accounts, failed sign-ins
    included). A record type is found by its columns, so new ones are covered."""
    centres = user.centre_ids
    organisations = select(Organisation.id).where(or_(
        Organisation.id.in_(centres), Organisation.centre_id.in_(centres),
        Organisation.id.in_(select(Referral.hospital_id).where(_supervisor_referrals(user)))))
    staff = select(Membership.user_id).where(Membership.organisation_id.in_(organisations))
    owners = {  # a record touches the centre when one of these columns points into it
        "centre_id": list(centres), "user_id": staff, "school_id": organisations,
        "case_id": select(Case.id).where(_supervisor_cases(user)),
        "contact_id": select(Contact.id).where(_supervisor_contacts(user)),
        "student_id": select(Student.id).where(_supervisor_students(user)),
    }
    about = [AuditEntry.actor_id.in_(staff),
             _entries_about(User, select(User.id).where(User.id.in_(staff))),
             _entries_about(Organisation, organisations),
             _entries_about(BreakGlassGrant, select(BreakGlassGrant.id).where(or_(*(
                 (BreakGlassGrant.object_type == name) & BreakGlassGrant.object_id.in_(ids)
                 for name, ids in (("case", owners["case_id"]),
                                   ("contact", owners["contact_id"]),
                                   ("student", owners["student_id"])))))),
             AuditEntry.action == "audit.rekey"]  # the whole trail's, so every centre's
    for mapper in Base.registry.mappers:
        model = mapper.class_
        if len(mapper.primary_key) != 1 or model in (User, Organisation):
            continue
        links = [getattr(model, column).in_(ids) for column, ids in owners.items()
                 if column in mapper.columns]
        if links:
            about.append(_entries_about(model, select(mapper.primary_key[0]).where(or_(*links))))
    return or_(*about)


def _entries_about(model: type, ids: Select) -> ColumnElement[bool]:
    name = getattr(model, "__audit_name__", None) or model.__name__.lower()
    ids = ids.subquery()
    return (AuditEntry.object_type == name) & AuditEntry.object_id.in_(
        select(cast(ids.c[0], String)))
