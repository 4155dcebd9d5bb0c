"""What each workflow event requires and what it changes.

``state_machines.case_workflow`` says which events leave which state and who may fire
them; this module says, per event, which data it needs (a schema) and which rules of the
policy must hold (guards), and applies its effects: fields on the case, referrals and
deadlines. Guards raise ``InvalidInput`` naming each field, so nothing changes.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Callable

import marshmallow as ma
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from casework import deadlines
from casework.models import (Case, CaseDocument, CaseHistory, Deadline, DeadlineStatus,
                             DocumentKind,
                             FollowUpContact, GuardianContactAttempt, Referral, RiskLevel)
from casework.policy import policy
from crisisline import validation
from crisisline.accounts.models import HospitalKind, Organisation, OrgKind, Role, User
from crisisline.database import db, utcnow
from crisisline.errors import InvalidInput
from crisisline.i18n import CHOICE_LABELS, DEADLINE_LABELS, label
from crisisline.messages import Message, listing

LOW_OR_MEDIUM = (RiskLevel.LOW.value, RiskLevel.MODERATE.value)
HIGH_OR_IMMINENT = (RiskLevel.HIGH.value, RiskLevel.IMMINENT.value)
EMERGENCY_SERVICES = ("120", "110", "119")
PLAN_OWNER_ROLES = (Role.COUNSELOR, Role.SUPERVISOR)
RECORDED_LATE_AT_MOST = timedelta(hours=24)
LEGAL_BASES = ("guardian_consent", "school_consent", "police_assisted")
ELIGIBLE_FOR_RECOVERY_CERTIFICATES = (HospitalKind.GRADE_2A_PSYCHIATRIC_DEPARTMENT,
                                      HospitalKind.SPECIALIST_PSYCHIATRIC,
                                      HospitalKind.BRAIN_HOSPITAL)


def _storable(value: str) -> None:
    problem = validation.text_problem(value)
    if problem is not None:
        raise ma.ValidationError(Message(problem))


def _text(max_length: int = 2000, **kwargs):
    """Required free text that fits its column."""
    return ma.fields.String(required=True, validate=[ma.validate.Length(min=1, max=max_length),
                                                     _storable], **kwargs)


def _name(max_length: int = 120, **kwargs):
    """The required name of a person."""
    return validation.Name(required=True, validate=ma.validate.Length(min=1, max=max_length),
                           **kwargs)


def _choice(choices, **kwargs):
    return ma.fields.String(required=True, validate=ma.validate.OneOf(choices), **kwargs)


class _Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE


class TriageSupport(_Strict):
    risk_level = _choice(LOW_OR_MEDIUM)
    support_plan = _text()  # 一人一策
    plan_owner_id = ma.fields.Integer(required=True, strict=True)


class Dispatch(_Strict):
    risk_level = _choice(HIGH_OR_IMMINENT)
    responder = _name()
    emergency_services = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(
        EMERGENCY_SERVICES)), required=True)  # [] when none was called


class Escalate(Dispatch):
    reason = _text()


class ContactGuardian(_Strict):
    arrived_at = validation.AwareDateTime(required=True)
    watcher = _name()


class ReferToHospital(_Strict):
    hospital_id = ma.fields.Integer(required=True, strict=True)
    legal_basis = _choice(LEGAL_BASES)
    danger_to_others = ma.fields.Boolean(load_default=False)
    guardian_refused = ma.fields.Boolean(load_default=False)
    police_reference = ma.fields.String(load_default=None)
    # who goes with the student (the hospital calls them on arrival)
    escort_id = ma.fields.Integer(load_default=None, strict=True)


class HomeSupervision(_Strict):
    danger_to_others = ma.fields.Boolean(required=True)
    guardian_refused_admission = ma.fields.Boolean(required=True)
    acknowledgement_document_id = ma.fields.Integer(required=True, strict=True)


class ConfirmArrival(_Strict):
    arrived_at = validation.AwareDateTime(required=True)


class ReturnToClass(_Strict):
    diagnosis_outcome = _choice(("fit_to_study", "needs_leave", "needs_admission"))
    parent_notice_document_id = ma.fields.Integer(required=True, strict=True)


class StartLeave(_Strict):
    kind = _choice(("leave", "suspension"))
    reason = _choice(("home_rest", "inpatient", "guardian_took_home"))
    expected_end = validation.Date(required=True)


class ApplyReturn(_Strict):
    certificate_document_id = ma.fields.Integer(required=True, strict=True)
    application_document_id = ma.fields.Integer(required=True, strict=True)


class ReviewNote(_Strict):
    note = _text()


class Withdraw(_Strict):
    reason = _choice(("leave_expired", "failed_review", "family_decision"))
    note = ma.fields.String(load_default="")


class Close(_Strict):
    note = ma.fields.String(load_default="")


class Reopen(_Strict):
    reason = _text()


def _fail(**fields):
    raise InvalidInput(fields)


def _document(case: Case, document_id: int, kind: DocumentKind, field: str) -> CaseDocument:
    document = db.get(CaseDocument, document_id)
    if document is None or document.case_id != case.id or document.kind != kind:
        _fail(**{field: _l("must be a document attached to this case, of the kind "
                           "“%(kind)s”", kind=label(CHOICE_LABELS, kind.value))})
    return document


def _has_document(case: Case, kind: DocumentKind) -> bool:
    return db.scalar(select(CaseDocument.id).where(CaseDocument.case_id == case.id,
                                                   CaseDocument.kind == kind).limit(1)) is not None


def _not_long_before_the_case(case: Case, moment: datetime) -> None:
    # a case is often recorded after the response began, but not days after
    if moment < case.created_at - RECORDED_LATE_AT_MOST:
        _fail(arrived_at=_l("cannot be more than a day before the case was opened"))


def enter_follow_up(case: Case) -> None:
    """Follow-up begins: first contact due within the policy's hours; a high-risk student's
    school also reports daily (日报告/零报告)."""
    if case.risk_level in (RiskLevel.HIGH, RiskLevel.IMMINENT):
        case.daily_reports = True
    if not deadlines.pending(case, "first_follow_up", "follow_up"):  # not outpatient: separate
        deadlines.schedule(case, "first_follow_up")
    if case.daily_reports and not deadlines.pending(case, "daily_report"):
        deadlines.schedule(case, "daily_report")


def leave_follow_up(case: Case) -> None:
    deadlines.settle(case, *deadlines.FOLLOW_UP_KINDS, *deadlines.DAILY_REPORT_KINDS,
                     status=DeadlineStatus.CANCELLED)


# -- the effects of each event ------------------------------------------------------------

def triage_support(case: Case, data: dict, actor: User) -> None:
    owner = db.get(User, data["plan_owner_id"])
    if owner is None or not owner.is_active or owner.role not in PLAN_OWNER_ROLES \
            or case.centre_id not in owner.centre_ids:
        _fail(plan_owner_id=_l("must be an active counselor or supervisor of this case's "
                               "centre"))
    case.risk_level, case.owner_id = RiskLevel(data["risk_level"]), owner.id
    enter_follow_up(case)


def dispatch(case: Case, data: dict, actor: User) -> None:
    case.risk_level, case.responder = RiskLevel(data["risk_level"]), data["responder"]
    deadlines.schedule(case, "responder_on_site")


def escalate(case: Case, data: dict, actor: User) -> None:
    leave_follow_up(case)
    dispatch(case, data, actor)


def contact_guardian(case: Case, data: dict, actor: User) -> None:
    if data["arrived_at"] > utcnow() + timedelta(minutes=1):
        _fail(arrived_at=_l("cannot be in the future"))
    _not_long_before_the_case(case, data["arrived_at"])
    case.watcher = data["watcher"]
    deadlines.settle(case, "responder_on_site")
    deadlines.schedule(case, "guardian_reached")


def refer_to_hospital(case: Case, data: dict, actor: User) -> None:
    hospital = db.get(Organisation, data["hospital_id"])
    if hospital is None or hospital.kind != OrgKind.HOSPITAL:
        _fail(hospital_id=_l("must be a hospital"))
    basis = data["legal_basis"]
    if basis == "guardian_consent" and data["guardian_refused"]:
        _fail(legal_basis=_l("the guardian refused: guardian consent cannot be the basis"))
    if basis == "school_consent":
        _require_guardian_unreachable(case)
    elif basis == "police_assisted":
        problems = {}
        if not data["guardian_refused"]:
            problems["guardian_refused"] = _l("police-assisted transfer needs the guardian's "
                                              "refusal")
        if not data["danger_to_others"]:
            problems["danger_to_others"] = _l("police may only help when the student has "
                                              "harmed or threatens to harm others (MHL art. 28, "
                                              "35, 36)")
        if not (data.get("police_reference") or "").strip():
            problems["police_reference"] = _l("the police case or call reference is required")
        if problems:
            raise InvalidInput(problems)
    escort = _escort(case, data.get("escort_id"))
    case.hospital_id, case.legal_basis = hospital.id, basis
    case.danger_to_others = case.danger_to_others or data["danger_to_others"]
    case.referrals.append(Referral(hospital_id=hospital.id,  # the rules read the list
                                   escort_id=escort.id if escort else None))
    deadlines.settle(case, "guardian_reached",
                     status=DeadlineStatus.MET if basis == "guardian_consent"
                     else DeadlineStatus.CANCELLED)
    deadlines.schedule(case, "hospital_arrival")


ESCORT_ROLES = (Role.VOLUNTEER, Role.COUNSELOR, Role.SUPERVISOR, Role.REPORTER)


def _escort(case: Case, escort_id: int | None) -> User | None:
    """The staff member who accompanies the student: someone active of the case's centre
    or of the student's school, whose phone the hospital's liaison is shown."""
    if escort_id is None:
        return None
    escort = db.get(User, escort_id)
    places = {case.centre_id} | ({case.student.school_id} if case.student else set())
    if escort is None or not escort.is_active or escort.role not in ESCORT_ROLES \
            or not escort.organisation_ids() & places:
        _fail(escort_id=_l("must be an active staff member of this case's centre or of the "
                           "student's school"))
    return escort


def _require_guardian_unreachable(case: Case) -> None:
    problems = {}
    waited_until = db.scalar(select(Deadline.due_at).where(
        Deadline.case_id == case.id, Deadline.kind == "guardian_reached")
        .order_by(Deadline.id.desc()).limit(1))
    if waited_until is None or waited_until > utcnow():
        problems["legal_basis"] = _l("school consent opens only when the guardian has not been "
                                     "reached for %(minutes)d minutes",
                                     minutes=policy().guardian_reached_minutes)
    attempts = db.scalars(select(GuardianContactAttempt.reached).where(
        GuardianContactAttempt.case_id == case.id)).all()
    if not attempts:
        problems["guardian_contact_attempts"] = _l("log the attempts to reach the guardian")
    elif any(attempts):
        problems["legal_basis"] = _l("the guardian was reached: ask for the guardian's consent")
    if not _has_document(case, DocumentKind.SCHOOL_CONSENT_FORM):
        problems["school_consent_form"] = _l("attach the signed school consent form")
    if problems:
        raise InvalidInput(problems)


def home_supervision(case: Case, data: dict, actor: User) -> None:
    problems = {}
    if data["danger_to_others"] or case.danger_to_others:
        problems["danger_to_others"] = _l("danger to others: refer with police assistance, "
                                          "home supervision is for danger to self only")
    if not data["guardian_refused_admission"]:
        problems["guardian_refused_admission"] = _l("home supervision follows a refused "
                                                    "admission")
    if problems:
        raise InvalidInput(problems)
    _document(case, data["acknowledgement_document_id"], DocumentKind.GUARDIAN_ACKNOWLEDGEMENT,
              "acknowledgement_document_id")
    case.daily_reports = True
    deadlines.settle(case, "guardian_reached")
    enter_follow_up(case)


def confirm_arrival(case: Case, data: dict, actor: User) -> None:
    if data["arrived_at"] > utcnow() + timedelta(minutes=1):
        _fail(arrived_at=_l("cannot be in the future"))
    _not_long_before_the_case(case, data["arrived_at"])
    referral = current_referral(case)
    referral.arrived_at = data["arrived_at"]
    deadlines.settle(case, "hospital_arrival")


def return_to_class(case: Case, data: dict, actor: User) -> None:
    if data["diagnosis_outcome"] != "fit_to_study":
        _fail(diagnosis_outcome=_l("return to class needs the diagnosis “fit to study”; "
                                   "otherwise start a leave"))
    _document(case, data["parent_notice_document_id"], DocumentKind.PARENT_NOTICE,
              "parent_notice_document_id")
    deadlines.settle(case, "hospital_arrival", status=DeadlineStatus.CANCELLED)
    enter_follow_up(case)


def start_leave(case: Case, data: dict, actor: User) -> None:
    today = utcnow().date()
    if data["expected_end"] <= today:
        _fail(expected_end=_l("must be after today"))
    case.leave_kind, case.leave_expected_end = data["kind"], data["expected_end"]
    deadlines.settle(case, "hospital_arrival", status=DeadlineStatus.CANCELLED)
    _schedule_leave_reminder(case, data["expected_end"])


def _schedule_leave_reminder(case: Case, expected_end: date) -> None:
    end = datetime.combine(expected_end, datetime.min.time(), tzinfo=utcnow().tzinfo)
    due = max(utcnow(), end - timedelta(days=policy().leave_reminder_days))
    deadlines.schedule(case, "leave_ending", due_at=due)


def apply_return(case: Case, data: dict, actor: User) -> None:
    certificate = _document(case, data["certificate_document_id"],
                            DocumentKind.RECOVERY_CERTIFICATE, "certificate_document_id")
    hospital = certificate.issued_by_hospital
    if hospital is None or hospital.hospital_kind not in ELIGIBLE_FOR_RECOVERY_CERTIFICATES:
        _fail(certificate_document_id=_l("the certificate must come from a grade-2A+ "
                                         "psychiatric department, a specialist psychiatric or "
                                         "a brain hospital"))
    _document(case, data["application_document_id"], DocumentKind.RETURN_APPLICATION,
              "application_document_id")
    deadlines.settle(case, "leave_ending", status=DeadlineStatus.CANCELLED)


def approve_return(case: Case, data: dict, actor: User) -> None:
    case.leave_kind = case.leave_expected_end = None
    enter_follow_up(case)


def reject_return(case: Case, data: dict, actor: User) -> None:
    if case.leave_expected_end:
        _schedule_leave_reminder(case, max(case.leave_expected_end,
                                           utcnow().date() + timedelta(days=1)))


def withdraw(case: Case, data: dict, actor: User) -> None:
    deadlines.settle(case, status=DeadlineStatus.CANCELLED)
    case.closed_at = utcnow()


def close(case: Case, data: dict, actor: User) -> None:
    problems = {}
    reopened = db.scalar(select(func.max(CaseHistory.occurred_at)).where(
        CaseHistory.case_id == case.id, CaseHistory.event == "reopen"))
    counted = select(func.count(FollowUpContact.id)).where(FollowUpContact.case_id == case.id)
    if reopened is not None:  # a reopened case needs follow-ups of its own before closing
        counted = counted.where(FollowUpContact.created_at > reopened)
    done = db.scalar(counted)
    needed = policy().min_follow_ups_to_close
    if done < needed:
        problems["follow_up_contacts"] = _l("%(needed)d follow-up contacts are needed, "
                                            "%(done)d done", needed=needed, done=done)
    late = deadlines.overdue(case)
    if late:
        problems["deadlines"] = _l("overdue: %(deadlines)s", deadlines=listing(
            [label(DEADLINE_LABELS, kind) for kind in sorted({d.kind for d in late})]))
    if problems:
        raise InvalidInput(problems)
    deadlines.settle(case, status=DeadlineStatus.CANCELLED)
    case.closed_at, case.daily_reports = utcnow(), False


def reopen(case: Case, data: dict, actor: User) -> None:
    case.closed_at = None
    enter_follow_up(case)


def current_referral(case: Case) -> Referral:
    return db.scalars(select(Referral).where(Referral.case_id == case.id)
                      .order_by(Referral.id.desc()).limit(1)).one()


HANDLERS: dict[str, tuple[type[ma.Schema], Callable[[Case, dict, User], None]]] = {
    "triage_support": (TriageSupport, triage_support),
    "dispatch": (Dispatch, dispatch),
    "escalate": (Escalate, escalate),
    "contact_guardian": (ContactGuardian, contact_guardian),
    "refer_to_hospital": (ReferToHospital, refer_to_hospital),
    "home_supervision": (HomeSupervision, home_supervision),
    "confirm_arrival": (ConfirmArrival, confirm_arrival),
    "return_to_class": (ReturnToClass, return_to_class),
    "start_leave": (StartLeave, start_leave),
    "apply_return": (ApplyReturn, apply_return),
    "approve_return": (ReviewNote, approve_return),
    "reject_return": (ReviewNote, reject_return),
    "withdraw": (Withdraw, withdraw),
    "close": (Close, close),
    "reopen": (Reopen, reopen),
}
