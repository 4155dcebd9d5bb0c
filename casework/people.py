"""The people in a case, shown by their names: who did each step and with what, and the
pickers that let a form choose a person or a hospital by name while it posts the id."""
from __future__ import annotations

from datetime import datetime

from flask_babel import format_datetime, gettext as _, lazy_gettext as _l
from sqlalchemy import or_, select

from casework.models import Case, CaseDocument, CaseHistory
from crisisline.access.rules import VIEW
from crisisline.accounts.models import Membership, Organisation, OrgKind, Role, User
from crisisline.database import db
from crisisline.errors import Forbidden, InvalidInput
from crisisline.i18n import CHOICE_LABELS, RISK_LABELS, ROLE_LABELS, field_label

PICK_LIMIT = 10
PURPOSES = ("plan_owner", "assignee", "escort")
_USERS = ("plan_owner_id", "owner_id", "escort_id")


def user_name(user_id: int | None) -> str:
    user = db.get(User, user_id) if user_id is not None else None
    return user.display_name if user is not None else "—"


def history_details(row: CaseHistory) -> list[tuple[str, str]]:
    """What a step recorded, as (label, value) pairs a person reads: people and hospitals
    by name, documents by kind and file, choices by their labels, never an internal id."""
    details = []
    for key, value in (row.data or {}).items():
        if value is None or value == "" or value == []:
            continue
        details.append((field_label(key), _value(key, value)))
    return details


def _value(key: str, value) -> str:
    if key in _USERS:
        return user_name(value)
    if key == "hospital_id":
        hospital = db.get(Organisation, value)
        return hospital.name if hospital is not None else "—"
    if key.endswith("document_id"):
        document = db.get(CaseDocument, value)
        return (f"{CHOICE_LABELS.get(document.kind.value, document.kind.value)} · "
                f"{document.filename}" if document is not None else "—")
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return "、".join(str(CHOICE_LABELS.get(item, item)) for item in value)
    if key == "risk_level":
        return str(RISK_LABELS.get(value, value))
    if key in ("arrived_at",) and isinstance(value, str):
        try:
            return format_datetime(datetime.fromisoformat(value), "short")
        except ValueError:
            return value
    if isinstance(value, str) and value in CHOICE_LABELS:
        return str(CHOICE_LABELS[value])
    return str(value)


# -- pickers ---------------------------------------------------------------------------------

def _case_for_picking(actor, case_id: int | None) -> Case:
    from casework.services import get_case
    if case_id is None:
        raise InvalidInput({"case": _l("required")})
    case = get_case(actor, case_id, VIEW)
    if actor.role == Role.HOSPITAL_LIAISON:
        raise Forbidden(_l("hospital liaisons see the referral, not the case file"),
                        object_type="case", object_id=case.id)
    return case


def _like(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def staff(actor, q: str, purpose: str, case_id: int | None) -> list[User]:
    """People of the case's centre ``actor`` may choose for ``purpose``: a plan owner or an
    assignee (active counselors and supervisors), or the escort who goes with the student
    to hospital (active staff of the centre or of the student's school)."""
    if purpose not in PURPOSES:
        raise InvalidInput({"purpose": _l("choose one of the options offered")})
    case = _case_for_picking(actor, case_id)
    organisations = {case.centre_id}
    if purpose == "escort":
        roles = (Role.VOLUNTEER, Role.COUNSELOR, Role.SUPERVISOR, Role.REPORTER)
        if case.student is not None:
            organisations.add(case.student.school_id)
    else:
        roles = (Role.COUNSELOR, Role.SUPERVISOR)
    query = select(User).where(
        User.disabled_at.is_(None), User.role.in_(roles),
        User.id.in_(select(Membership.user_id).where(
            Membership.organisation_id.in_(organisations))))
    q = (q or "").strip()
    if q:
        query = query.where(or_(User.display_name.like(_like(q), escape="\\"),
                                User.username.like(_like(q), escape="\\")))
    return db.scalars(query.order_by(User.display_name, User.id).limit(PICK_LIMIT)).all()


def staff_label(user: User) -> str:
    return f"{user.display_name} · {ROLE_LABELS.get(user.role.value, user.role.value)}"


def hospitals(actor, q: str, case_id: int | None = None) -> list[tuple[Organisation, bool]]:
    """Hospitals by name or code; with a case, its student's school's designated hospitals
    (定点医院) first; each with whether it is one of them."""
    if actor.role not in (Role.VOLUNTEER, Role.COUNSELOR, Role.SUPERVISOR, Role.ADMIN):
        raise Forbidden(_l("only hotline staff choose hospitals"))
    designated: list[Organisation] = []
    if case_id is not None:
        case = _case_for_picking(actor, case_id)
        if case.student is not None:
            designated = list(case.student.school.designated_hospitals)
    query = select(Organisation).where(Organisation.kind == OrgKind.HOSPITAL)
    q = (q or "").strip()
    if q:
        query = query.where(or_(Organisation.name.like(_like(q), escape="\\"),
                                Organisation.code.like(_like(q), escape="\\")))
        designated = [hospital for hospital in designated
                      if q in hospital.name or q in hospital.code]
    others = db.scalars(query.order_by(Organisation.name).limit(PICK_LIMIT)).all()
    return ([(hospital, True) for hospital in designated]
            + [(hospital, False) for hospital in others
               if hospital not in designated])[:PICK_LIMIT]


def hospital_label(hospital: Organisation, designated: bool = False) -> str:
    return f"{hospital.name} · {_('designated hospital')}" if designated else hospital.name
