"""Screening campaigns (心理普测) and their warnings, worked through the chain of seed 001:
a first warning (预警) → the 班主任/辅导员's one-to-one interview (一对一约谈) → cleared, or a
second warning (二次预警) → assessment (评估定级) by a psychology teacher or a centre
counselor → a crisis case (high, imminent) or the watch list (low, moderate).

A campaign's results come from a file (``schoolnet.imports``: 学号, 总分 or 第1题…第9题);
a result over the scale's threshold raises a warning, due for interview within a week, or
within a day when PHQ-9's self-harm item is answered (then the student's 班主任/辅导员 and
the school's psychology centre are alerted at once). The thresholds are policy. A scale never
grades a student alone (seed 004): an assessment needs a recorded interview first.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import case as sql_case, func, select
from transitions import MachineError

from casework import alerts
from casework.models import CaseSource, RiskLevel, Student
from casework.policy import policy
from crisisline import audit
from crisisline.access.rules import EDIT, VIEW, can, visible
from crisisline.accounts.models import (Membership, Organisation, OrgKind, ReporterIdentity,
                                        Role, SchoolUnit, User)
from crisisline.database import db, utcnow
from crisisline.errors import Conflict, Forbidden, Hidden, InvalidInput, NotFound
from crisisline.i18n import RECORD_LABELS, RISK_LABELS
from crisisline.imports import ImportReport, import_file
from crisisline.validation import name_problem
from schoolnet import watch_list
from schoolnet.access import SCREENING_STAFF, is_psychology_centre
from schoolnet.models import Instrument, ScreeningCampaign, ScreeningResult, ScreeningWarning
from schoolnet.services import refer_to_centre
from state_machines import screening_warning

NAME_LENGTH = 120
CASE_LEVELS = (RiskLevel.HIGH, RiskLevel.IMMINENT)
WATCH_LEVELS = (RiskLevel.LOW, RiskLevel.MODERATE)
INTERVIEW_OUTCOMES = {"cleared": "clear", "second_warning": "warn_again"}


@dataclass(frozen=True)
class Scale:
    """What a campaign's scale scores: its items (0 for a custom scale: a total only), each
    item's highest answer, the highest total, and which item asks about self-harm."""

    items: int
    item_max: int
    max_total: int
    self_harm_item: int | None = None


SCALES = {Instrument.PHQ9: Scale(9, 3, 27, self_harm_item=9),
          Instrument.GAD7: Scale(7, 3, 21)}


def scale_of(campaign: ScreeningCampaign) -> Scale:
    return SCALES.get(campaign.instrument) or Scale(0, 0, campaign.max_score or 0)


# -- campaigns ---------------------------------------------------------------------------

def create_campaign(actor: User, *, school_id: int | None, name: str, instrument: str,
                    started_on: date | None, scale_name: str | None = None,
                    cut_off: int | None = None, max_score: int | None = None
                    ) -> ScreeningCampaign:
    """A school's psychology centre starts a campaign with PHQ-9, GAD-7 or a custom scale
    (named, with its documented cut-off and highest total)."""
    errors: dict = {}
    school = db.get(Organisation, school_id) if school_id is not None else None
    if school is None or school.kind != OrgKind.SCHOOL:
        errors["school_id"] = _l("choose a school")
    elif not is_psychology_centre(actor, school.id):
        raise Forbidden(_l("only the school's psychology centre runs its screenings"))
    name = _name(name, "name", _l("give the campaign a name"), errors)
    if instrument not in {kind.value for kind in Instrument}:
        errors["instrument"] = _l("choose PHQ-9, GAD-7 or custom")
    if started_on is None:
        errors["started_on"] = _l("give the date the screening started")
    custom = instrument == Instrument.CUSTOM.value
    if custom:
        scale_name = _name(scale_name, "scale_name", _l("name the scale"), errors)
        if not isinstance(max_score, int) or not 1 <= max_score <= 1000:
            errors["max_score"] = _l("give the scale's highest total (1 to 1000)")
        if not isinstance(cut_off, int) or not 1 <= cut_off <= (
                max_score if isinstance(max_score, int) else 1000):
            errors["cut_off"] = _l("give the scale's documented cut-off, from 1 to its "
                                   "highest total")
    elif scale_name or cut_off is not None or max_score is not None:
        errors["instrument"] = _l("only a custom scale has its own name and cut-off")
    if errors:
        raise InvalidInput(errors)
    campaign = ScreeningCampaign(
        school_id=school.id, name=name, instrument=Instrument(instrument),
        scale_name=scale_name if custom else None, cut_off=cut_off if custom else None,
        max_score=max_score if custom else None, started_on=started_on,
        created_by_id=actor.id)
    db.add(campaign)
    audit.record("screening_campaign.create", campaign, changes=audit.diff(campaign))
    db.flush()
    return campaign


def _name(value: str | None, field: str, missing, errors: dict) -> str:
    value = " ".join((value or "").split())
    if not value:
        errors[field] = missing
    elif len(value) > NAME_LENGTH:
        errors[field] = _l("at most %(n)d characters", n=NAME_LENGTH)
    elif (problem := name_problem(value)) is not None:
        errors[field] = problem
    return value


def campaigns(actor: User) -> list[ScreeningCampaign]:
    """The campaigns ``actor`` may read, newest first."""
    return list(db.scalars(visible(actor, ScreeningCampaign).order_by(
        ScreeningCampaign.started_on.desc(), ScreeningCampaign.id.desc())))


def get_campaign(actor: User, campaign_id: int, action: str = VIEW) -> ScreeningCampaign:
    campaign = db.get(ScreeningCampaign, campaign_id)
    missing = _l("%(record)s %(id)s does not exist",
                 record=RECORD_LABELS["screening_campaign"], id=campaign_id)
    if campaign is None:
        raise NotFound(missing)
    if not can(actor, action, campaign):
        if action != VIEW and can(actor, VIEW, campaign):
            raise Forbidden(_l("only the school's psychology centre runs its screenings"))
        raise Hidden(missing, object_type="screening_campaign", object_id=campaign_id)
    return campaign


# -- results and warnings ---------------------------------------------------------------------

def import_results(actor: User | None, campaign_id: int, path, *, filename: str | None = None,
                   dry_run: bool = False, progress=None) -> ImportReport:
    """Import a file of the campaign's results (``schoolnet.imports``): all rows, or, if
    any has a problem, none. ``actor`` None: the operator's command line."""
    if actor is not None:
        get_campaign(actor, campaign_id, EDIT)
    # two imports of one campaign at once queue here: the second finds the first's results
    if db.get(ScreeningCampaign, campaign_id, with_for_update=True) is None:
        raise NotFound(_l("%(record)s %(id)s does not exist",
                          record=RECORD_LABELS["screening_campaign"], id=campaign_id))
    return import_file("screening", path, filename=filename, dry_run=dry_run, actor=actor,
                       context={"campaign_id": campaign_id}, progress=progress)


def record_result(actor: User | None, campaign: ScreeningCampaign, student: Student, *,
                  total: int, items: list[int] | None = None,
                  self_harm: int | None = None) -> ScreeningWarning | None:
    """Save one student's scores (checked by the caller: ``schoolnet.imports``); a total
    over the threshold raises a warning, which is returned."""
    result = ScreeningResult(campaign_id=campaign.id, student_id=student.id, total=total,
                             items=items, self_harm_item=self_harm)
    db.add(result)
    audit.record("screening_result.create", result, actor=actor,
                 changes=audit.diff(result))
    warned, urgent = _warns(campaign, total, self_harm)
    if not warned:
        return None
    now = utcnow()
    rules = policy()
    warning = ScreeningWarning(
        campaign=campaign, result=result, student_id=student.id, school_id=student.school_id,
        urgent=urgent, state=screening_warning.INITIAL,
        due_at=now + (rules.delay("screening_urgent_interview_hours") if urgent
                      else rules.delay("screening_interview_days")))
    db.add(warning)
    db.flush()
    audit.record("screening_warning.create", warning, actor=actor,
                 changes=audit.diff(warning) | {"id": {"new": warning.id}})
    if urgent:
        alerts.raise_alerts(alerts.URGENT_SCREENING_WARNING, interviewers_of(student),
                            screening_warning_id=warning.id)
    return warning


def _warns(campaign: ScreeningCampaign, total: int, self_harm: int | None
           ) -> tuple[bool, bool]:
    """(warned, urgent) for a result, by the policy's thresholds."""
    rules = policy()
    if campaign.instrument == Instrument.PHQ9:
        urgent = self_harm is not None and self_harm >= rules.phq9_self_harm_answer
        return urgent or total >= rules.phq9_warning_total, urgent
    if campaign.instrument == Instrument.GAD7:
        return total >= rules.gad7_warning_total, False
    return total >= (campaign.cut_off or 0), False


def interviewers_of(student: Student) -> list[User]:
    """Who is told of an urgent warning: the student's 班主任 and 辅导员 (of their class or
    a unit above it) and the school's psychology centre."""
    units, unit_id = [], student.class_unit_id
    while unit_id is not None and unit_id not in units:
        units.append(unit_id)
        unit_id = db.scalar(select(SchoolUnit.parent_id).where(SchoolUnit.id == unit_id))
    teachers = User.reporter_identity.in_((ReporterIdentity.HEAD_TEACHER,
                                           ReporterIdentity.COUNSELOR_TEACHER))
    return list(db.scalars(select(User).join(Membership).where(
        Membership.organisation_id == student.school_id, User.role == Role.REPORTER,
        User.disabled_at.is_(None),
        (teachers & Membership.unit_id.in_(units))
        | ((User.reporter_identity == ReporterIdentity.PSYCHOLOGY_CENTRE)
           & Membership.unit_id.is_(None))).order_by(User.id).distinct()))


def warnings(actor: User, campaign_id: int) -> list[ScreeningWarning]:
    """The campaign's warnings ``actor`` may read (the read is audited): urgent first, then
    the soonest due."""
    campaign = get_campaign(actor, campaign_id)
    found = list(db.scalars(visible(actor, ScreeningWarning).where(
        ScreeningWarning.campaign_id == campaign.id).order_by(
        ScreeningWarning.urgent.desc(), ScreeningWarning.due_at, ScreeningWarning.id)))
    audit.record("screening_warning.list", campaign, changes={
        "screening_warning_ids": {"new": [warning.id for warning in found]}})
    return found


def get_warning(actor: User, warning_id: int, action: str = VIEW, *,
                lock: bool = False) -> ScreeningWarning:
    warning = db.get(ScreeningWarning, warning_id, with_for_update=lock,
                     populate_existing=lock)
    missing = _l("%(record)s %(id)s does not exist",
                 record=RECORD_LABELS["screening_warning"], id=warning_id)
    if warning is None:
        raise NotFound(missing)
    if not can(actor, action, warning):
        if can(actor, VIEW, warning):
            raise Forbidden(_l("you may not act on this warning"),
                            object_type="screening_warning", object_id=warning.id)
        raise Hidden(missing, object_type="screening_warning", object_id=warning.id)
    return warning


def read_warning(actor: User, warning_id: int) -> ScreeningWarning:
    """One warning, its scores and notes (the read is audited)."""
    warning = get_warning(actor, warning_id)
    audit.record_read(warning)
    return warning


def may_interview(user: User) -> bool:
    """Is ``user`` one who interviews warned students (a 班主任, 辅导员 or psychology centre
    teacher; which students: the access rules)?"""
    return user.role == Role.REPORTER and user.reporter_identity in SCREENING_STAFF


def may_assess(user: User) -> bool:
    """Is ``user`` one who assesses second warnings (a psychology centre teacher, a centre
    counselor)?"""
    return user.role == Role.COUNSELOR or (
        user.role == Role.REPORTER
        and user.reporter_identity == ReporterIdentity.PSYCHOLOGY_CENTRE)


def interview(actor: User, warning_id: int, *, outcome: str, note: str) -> ScreeningWarning:
    """The student's 班主任 or 辅导员 (or the psychology centre) records the one-to-one
    interview: the warning is cleared, or becomes a second warning to assess."""
    if not may_interview(actor):
        raise Forbidden(_l("the student's head teacher or counselor-teacher interviews them"))
    warning = get_warning(actor, warning_id, EDIT, lock=True)
    errors = {}
    if outcome not in INTERVIEW_OUTCOMES:
        errors["outcome"] = _l("choose cleared or second warning")
    if not (note or "").strip():
        errors["note"] = _l("write what the interview found")
    if errors:
        raise InvalidInput(errors)
    _move(warning, INTERVIEW_OUTCOMES[outcome],
          _l("the interview has been recorded already"))
    warning.interviewed_by_id, warning.interviewed_at = actor.id, utcnow()
    warning.interview_note = note.strip()
    audit.record("screening_warning.interview", warning, changes=audit.diff(warning))
    return warning


def assess(actor: User, warning_id: int, *, risk_level: str, plan: str,
           review_on: date | None = None, owner_id: int | None = None) -> ScreeningWarning:
    """A school psychology teacher or a centre counselor grades a second warning, after
    the interview: high or imminent opens a crisis case (or joins the student's open one);
    low or moderate puts the student on the watch list with an owner (``owner_id``, else
    whoever interviewed them), the one-person plan and the first review date."""
    if not may_assess(actor):
        raise Forbidden(_l("a school psychology teacher or a centre counselor assesses"))
    warning = get_warning(actor, warning_id, EDIT, lock=True)
    if warning.state == "awaiting_interview":
        raise Conflict(_l("a scale never grades a student alone: record the one-to-one "
                          "interview first"), state=warning.state)
    if warning.state == "cleared":
        raise Conflict(_l("the interview cleared this warning: there is nothing to assess"),
                       state=warning.state)
    errors = {}
    levels = {level.value for level in CASE_LEVELS + WATCH_LEVELS}
    if risk_level not in levels:
        errors["risk_level"] = _l("choose low, moderate, high or imminent")
    if not (plan or "").strip():
        errors["support_plan"] = _l("write the one-person plan (一人一策)")
    level = RiskLevel(risk_level) if risk_level in levels else None
    if level in WATCH_LEVELS and review_on is None:
        errors["review_on"] = _l("give the date of the first review")
    if errors:
        raise InvalidInput(errors)
    _move(warning, "grade", _l("this warning has been assessed already"))
    warning.assessed_by_id, warning.assessed_at = actor.id, utcnow()
    warning.risk_level, warning.plan = level, plan.strip()
    if level in CASE_LEVELS:
        case = refer_to_centre(actor, warning.student, source=CaseSource.SCREENING,
                               risk_level=level, summary=_case_summary(warning),
                               joined=alerts.SCREENING_CASE)
        warning.case_id = case.id
        watch_list.leave_for_case(actor, warning.student, case, _case_summary(warning))
    else:
        owner = owner_id if owner_id is not None else warning.interviewed_by_id
        watch_list.put_on_list(actor, warning.student, risk_level=level, plan=plan,
                               owner_id=owner, review_on=review_on, warning=warning)
    audit.record("screening_warning.assess", warning, changes=audit.diff(warning))
    return warning


def _case_summary(warning: ScreeningWarning) -> str:
    """What the case says of where it came from (the scores stay with the screening)."""
    campaign = warning.campaign
    return str(_l("Screening %(campaign)s: graded %(level)s after interview and assessment",
                  campaign=campaign.name, level=RISK_LABELS[warning.risk_level.value]))


def _move(warning: ScreeningWarning, event: str, refusal) -> None:
    try:
        screening_warning.bind(warning)
        warning.trigger(event)
    except MachineError:
        raise Conflict(refusal, state=warning.state) from None


def alert_overdue_interviews(now: datetime | None = None) -> int:
    """Warnings whose interview is past due: the school's psychology centre (and the
    student's teachers) are alerted, once per warning. The caller commits."""
    now = now or utcnow()
    late = db.scalars(select(ScreeningWarning).where(
        ScreeningWarning.state == screening_warning.INITIAL,
        ScreeningWarning.overdue_alerted_at.is_(None), ScreeningWarning.due_at <= now)
        .with_for_update(skip_locked=True)).all()
    for warning in late:
        warning.overdue_alerted_at = now
        alerts.raise_alerts(alerts.SCREENING_INTERVIEW_OVERDUE,
                            interviewers_of(warning.student), screening_warning_id=warning.id)
        audit.record("screening_warning.overdue", warning, actor="system")
    return len(late)


# -- the funnel --------------------------------------------------------------------------------

def sees_funnel(actor: User, campaign: ScreeningCampaign) -> bool:
    """The whole campaign's numbers are for its psychology centre and the serving centre's
    staff: in a small school, a count graded imminent can name a student to a teacher."""
    return actor.role in (Role.COUNSELOR, Role.SUPERVISOR) or can(actor, EDIT, campaign)


def funnel(actor: User, campaign_id: int) -> dict:
    """The campaign as numbers: screened → warned (urgent) → interviewed (cleared) → second
    warnings → graded, by level → cases. Counts only, of the whole campaign."""
    campaign = get_campaign(actor, campaign_id)
    if not sees_funnel(actor, campaign):
        raise Forbidden(_l("the campaign's numbers are for the school's psychology centre"))
    screened = db.scalar(select(func.count()).select_from(ScreeningResult).where(
        ScreeningResult.campaign_id == campaign.id))
    of_campaign = ScreeningWarning.campaign_id == campaign.id
    counted = db.execute(select(
        func.count(),
        func.sum(sql_case((ScreeningWarning.urgent, 1), else_=0)),
        func.count(ScreeningWarning.interviewed_at),
        func.sum(sql_case((ScreeningWarning.state == "cleared", 1), else_=0)),
        func.sum(sql_case((ScreeningWarning.state.in_(("second_warning", "graded")), 1),
                          else_=0)),
        func.count(ScreeningWarning.case_id)).where(of_campaign)).one()
    graded = dict(db.execute(select(ScreeningWarning.risk_level, func.count()).where(
        of_campaign, ScreeningWarning.state == "graded").group_by(
        ScreeningWarning.risk_level)).all())
    warned, urgent, interviewed, cleared, second, cases = (value or 0 for value in counted)
    return {"screened": screened, "warned": warned, "urgent": urgent,
            "interviewed": interviewed, "cleared": cleared, "second_warnings": second,
            "graded": {level.value: graded.get(level, 0)
                       for level in WATCH_LEVELS + CASE_LEVELS},
            "cases": cases}
