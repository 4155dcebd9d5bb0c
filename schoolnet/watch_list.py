"""A school's watch list (需重点关注学生动态清单, seed 000): the students graded low or
moderate, each with an owner, a one-person plan (一人一策) and a next review date.

Each review records a decision (keep, lower, raise, remove) and moves the next review on;
a review meeting (研判会) records the decisions for the students it reviewed and applies
them all in one transaction. Raised to high or imminent, the student leaves the list for a
crisis case; otherwise a student leaves it only with a reason. A missed review alerts its
owner, and, still missed some days later (policy), the school's psychology centre.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from casework import alerts
from casework.models import CaseSource, RiskLevel, Student
from casework.policy import policy
from crisisline import audit
from crisisline.access.rules import EDIT, VIEW, can, visible
from crisisline.accounts.models import Membership, ReporterIdentity, Role, User
from crisisline.database import db, utcnow
from crisisline.errors import Forbidden, Hidden, InvalidInput, NotFound
from crisisline.i18n import RECORD_LABELS
from schoolnet.access import is_psychology_centre, screening_reach
from schoolnet.models import ReviewMeeting, WatchDecision, WatchListEntry, WatchReview
from schoolnet.services import add_once, local_date, local_today, refer_to_centre

LEVELS = (RiskLevel.LOW, RiskLevel.MODERATE, RiskLevel.HIGH, RiskLevel.IMMINENT)
ON_LIST = (RiskLevel.LOW, RiskLevel.MODERATE)
FARTHEST_REVIEW = timedelta(days=366)
NOTE_LENGTH = 4000


def put_on_list(actor: User, student: Student, *, risk_level: RiskLevel, plan: str,
                owner_id: int | None, review_on: date | None,
                warning=None) -> WatchListEntry:
    """Put ``student`` on their school's watch list, or, already on it, bring their entry
    up to date (level, plan, owner, next review)."""
    errors: dict = {}
    owner = _owner(owner_id, student, errors)
    _check_review_date(review_on, "review_on", errors)
    if not (plan or "").strip():
        errors["support_plan"] = _l("write the one-person plan (一人一策)")
    if errors:
        raise InvalidInput(errors)
    entry = WatchListEntry(school_id=student.school_id, student_id=student.id,
                           warning_id=warning.id if warning is not None else None,
                           risk_level=risk_level, owner_id=owner.id, plan=plan.strip(),
                           next_review_on=review_on, added_by_id=actor.id,
                           on_list_key=f"student:{student.id}")
    first = add_once(entry, select(WatchListEntry).where(
        WatchListEntry.on_list_key == entry.on_list_key))
    if first is None:
        audit.record("watch_list_entry.create", entry, changes=audit.diff(entry))
        db.flush()
        return entry
    first.risk_level, first.plan, first.owner_id = risk_level, plan.strip(), owner.id
    first.next_review_on = review_on
    if warning is not None:
        first.warning_id = warning.id
    audit.record("watch_list_entry.update", first, changes=audit.diff(first))
    return first


def _owner(owner_id: int | None, student: Student, errors: dict) -> User | None:
    """The owner must be a teacher who reads the student's screenings: their 班主任,
    辅导员 or the school's psychology centre."""
    owner = db.get(User, owner_id) if owner_id is not None else None
    covering = screening_reach(owner) if owner is not None and owner.is_active else None
    if covering is None or not covering.covers(student):
        errors["owner_id"] = _l("choose the student's head teacher, counselor-teacher or a "
                                "teacher of the school's psychology centre")
        return None
    return owner


def _check_review_date(day: date | None, field: str, errors: dict) -> None:
    today = local_today()
    if day is None:
        errors[field] = _l("give the date of the next review")
    elif day < today:
        errors[field] = _l("the next review cannot be in the past")
    elif day > today + FARTHEST_REVIEW:
        errors[field] = _l("review within a year")


def entries(actor: User, school_id: int | None = None) -> list[WatchListEntry]:
    """The students on the watch list whom ``actor`` may see (of one school, if given),
    the soonest review first; the read is audited."""
    query = visible(actor, WatchListEntry).where(WatchListEntry.on_list_key.is_not(None))
    if school_id is not None:
        query = query.where(WatchListEntry.school_id == school_id)
    found = list(db.scalars(query.order_by(WatchListEntry.next_review_on,
                                           WatchListEntry.id)))
    audit.record("watch_list_entry.list", object_type="watch_list_entry", changes={
        "watch_list_entry_ids": {"new": [entry.id for entry in found]}})
    return found


def is_overdue(entry: WatchListEntry, today: date | None = None) -> bool:
    return entry.on_list_key is not None and entry.next_review_on < (today or local_today())


def get_entry(actor: User, entry_id: int, action: str = VIEW) -> WatchListEntry:
    entry = db.get(WatchListEntry, entry_id, with_for_update=action == EDIT,
                   populate_existing=action == EDIT)
    missing = _l("%(record)s %(id)s does not exist",
                 record=RECORD_LABELS["watch_list_entry"], id=entry_id)
    if entry is None:
        raise NotFound(missing)
    if not can(actor, action, entry):
        if can(actor, VIEW, entry):
            raise Forbidden(_l("you may not review this student"),
                            object_type="watch_list_entry", object_id=entry.id)
        raise Hidden(missing, object_type="watch_list_entry", object_id=entry.id)
    if action == EDIT and entry.on_list_key is None:
        raise InvalidInput({"entry_id": _l("the student has left the watch list")})
    return entry


def review(actor: User, entry_id: int, *, decision: str, note: str = "",
           risk_level: str | None = None, next_review_on: date | None = None,
           meeting: ReviewMeeting | None = None) -> WatchReview:
    """Record a review of a watch-list student and apply its decision: keep (or lower the
    level to low) with the next review date (the policy's days when none is given); raise
    to moderate, or to high or imminent (a crisis case opens and the student leaves the
    list); remove, with the reason (``note``)."""
    entry = get_entry(actor, entry_id, EDIT)
    errors: dict = {}
    note = (note or "").strip()
    if decision not in {choice.value for choice in WatchDecision}:
        errors["decision"] = _l("choose keep, lower, raise or remove")
        raise InvalidInput(errors)
    if len(note) > NOTE_LENGTH:
        errors["note"] = _l("at most %(n)d characters", n=NOTE_LENGTH)
    level = entry.risk_level
    choice = WatchDecision(decision)
    if choice == WatchDecision.LOWER:
        if entry.risk_level == RiskLevel.LOW:
            errors["decision"] = _l("the student is at low risk already: keep them on the "
                                    "list or remove them with the reason")
        level = RiskLevel.LOW
    elif choice == WatchDecision.RAISE:
        above = LEVELS[LEVELS.index(entry.risk_level) + 1:]
        if risk_level not in {choice.value for choice in above}:
            errors["risk_level"] = _l("choose a level above the student's present one")
        else:
            level = RiskLevel(risk_level)
    elif choice == WatchDecision.REMOVE and not note:
        errors["note"] = _l("say why the student leaves the watch list")
    leaves = choice == WatchDecision.REMOVE or level not in ON_LIST
    if not leaves:
        next_review_on = next_review_on or local_today() + timedelta(
            days=policy().watch_review_days)
        _check_review_date(next_review_on, "next_review_on", errors)
    if errors:
        raise InvalidInput(errors)
    row = WatchReview(entry=entry, meeting=meeting, reviewed_by_id=actor.id, decision=choice,
                      risk_level=level, next_review_on=None if leaves else next_review_on,
                      note=note)
    db.add(row)
    entry.risk_level = level
    if leaves and level not in ON_LIST:
        case = refer_to_centre(actor, entry.student, source=CaseSource.SCREENING,
                               risk_level=level, summary=note, joined=alerts.SCREENING_CASE)
        _leave(actor, entry, note or str(_l("raised to a crisis case")), case_id=case.id)
    elif leaves:
        _leave(actor, entry, note)
    else:
        entry.next_review_on = next_review_on
    audit.record(f"watch_list_entry.{choice.value}", entry, changes=audit.diff(entry))
    return row


def leave_for_case(actor: User, student: Student, case, reason: str) -> None:
    """A student on the watch list now has a crisis case: they leave the list for it."""
    entry = db.scalar(select(WatchListEntry).where(
        WatchListEntry.on_list_key == f"student:{student.id}").with_for_update())
    if entry is not None:
        _leave(actor, entry, reason, case_id=case.id)
        audit.record("watch_list_entry.remove", entry, changes=audit.diff(entry))


def _leave(actor: User, entry: WatchListEntry, reason: str, *, case_id: int | None = None
           ) -> None:
    entry.on_list_key, entry.removed_at = None, utcnow()
    entry.removed_by_id, entry.removed_reason = actor.id, reason
    if case_id is not None:
        entry.case_id = case_id


def hold_meeting(actor: User, *, school_id: int | None, held_on: date | None, note: str = "",
                 decisions: list[dict]) -> ReviewMeeting:
    """Record a review meeting (研判会) of a school's psychology centre and apply each of
    its decisions (``review``'s arguments with the ``entry_id``): all of them, or, if any
    is refused, none (each refusal named by its place in the list). A student the teacher
    may not see refuses the whole meeting as such (404, audited)."""
    if school_id is None or not is_psychology_centre(actor, school_id):
        raise Forbidden(_l("the school's psychology centre holds its review meetings"))
    errors: dict = {}
    if held_on is None:
        errors["held_on"] = _l("give the date of the meeting")
    elif held_on > local_today():
        errors["held_on"] = _l("the meeting cannot be in the future")
    if not decisions:
        errors["decisions"] = _l("record a decision for each student reviewed")
    if errors:
        raise InvalidInput(errors)
    meeting = ReviewMeeting(school_id=school_id, held_on=held_on, held_by_id=actor.id,
                            note=(note or "").strip())
    db.add(meeting)
    audit.record("review_meeting.create", meeting, changes=audit.diff(meeting))
    seen, refused = set(), {}
    for place, decision in enumerate(decisions):
        entry_id = decision.get("entry_id")
        try:
            if entry_id in seen:
                raise InvalidInput({"entry_id": _l("the student is reviewed twice")})
            seen.add(entry_id)
            # a student the teacher may not see is refused as such (and audited), not
            # folded into the meeting's problems
            if get_entry(actor, entry_id, EDIT).school_id != school_id:
                raise InvalidInput({"entry_id": _l("the student is not on this school's "
                                                   "watch list")})
            review(actor, entry_id, meeting=meeting, **{
                key: value for key, value in decision.items() if key != "entry_id"})
        except InvalidInput as problem:
            refused[place] = problem.fields  # by place in the list, as marshmallow nests
    if refused:
        errors["decisions"] = refused
    if errors:
        raise InvalidInput(errors)
    db.flush()
    return meeting


def alert_overdue_reviews(now: datetime | None = None) -> int:
    """Watch-list reviews past their date: the owner is alerted the day after; still not
    reviewed the policy's days later, the school's psychology centre. Once each per
    review date. The caller commits."""
    today = local_today() if now is None else local_date(now)
    late = db.scalars(select(WatchListEntry).where(
        WatchListEntry.on_list_key.is_not(None), WatchListEntry.next_review_on < today)
        .with_for_update(skip_locked=True)).all()
    escalate_after = timedelta(days=policy().watch_review_escalation_days)
    told = 0
    for entry in late:
        if entry.owner_alerted_for != entry.next_review_on:
            entry.owner_alerted_for = entry.next_review_on
            # an owner who has left (disabled): the psychology centre hears of it instead
            alerts.raise_alerts(alerts.WATCH_REVIEW_OVERDUE,
                                [entry.owner] if entry.owner.is_active
                                else psychology_centre_of(entry.school_id),
                                watch_entry_id=entry.id)
            audit.record("watch_list_entry.overdue", entry, actor="system")
            told += 1
        if entry.next_review_on + escalate_after < today and \
                entry.centre_alerted_for != entry.next_review_on:
            entry.centre_alerted_for = entry.next_review_on
            alerts.raise_alerts(alerts.WATCH_REVIEW_LONG_OVERDUE,
                                psychology_centre_of(entry.school_id),
                                watch_entry_id=entry.id)
            audit.record("watch_list_entry.long_overdue", entry, actor="system")
            told += 1
    return told


def psychology_centre_of(school_id: int) -> list[User]:
    """The teachers of the school's psychology centre."""
    return list(db.scalars(select(User).join(Membership).where(
        Membership.organisation_id == school_id, Membership.unit_id.is_(None),
        User.role == Role.REPORTER, User.disabled_at.is_(None),
        User.reporter_identity == ReporterIdentity.PSYCHOLOGY_CENTRE).order_by(User.id)))
