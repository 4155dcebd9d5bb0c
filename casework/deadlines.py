"""Durable deadlines: rows in the database, settled by the workflow, fired by a poller.

No deadline lives in a Celery countdown: every worker polls the due rows every second in a
thread of its own (``crisisline.celery_app.DeadlinePoller``), so the polls go on while any
worker lives, broker or not; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL lets several pollers
fire batches side by side and never one deadline twice, and a worker that dies mid-way
leaves its rows pending for the next poll.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from casework import alerts
from casework.models import DEADLINE_KINDS, Case, Deadline, DeadlineStatus
from casework.policy import policy
from crisisline import audit
from crisisline.accounts.models import Membership, Role, User
from crisisline.database import db, utcnow

# the deadlines a follow-up contact meets (in follow-up); leaving follow-up cancels them
FOLLOW_UP_KINDS = ("first_follow_up", "follow_up", "outpatient_follow_up", "key_period_review")
DAILY_REPORT_KINDS = ("daily_report", "daily_report_escalation")

# who is told first of a missed deadline of a kind, before the case owner and supervisors:
# registered by the domain that knows them (the school network: the reporters who owe a
# student's daily report). When it names someone, they get the kind's reminder and the
# owner and supervisors are told only if the step is still missing after the escalation.
first_told: dict[str, Callable[[Case], list[User]]] = {}
ESCALATIONS = {"daily_report": ("daily_report_escalation", alerts.DAILY_REPORT_REMINDER)}


def schedule(case: Case, kind: str, *, due_at: datetime | None = None,
             after: datetime | None = None) -> Deadline:
    """Add a pending deadline (due after the policy's delay for ``kind``, unless given)."""
    if kind not in DEADLINE_KINDS or (due_at is None and DEADLINE_KINDS[kind] is None):
        raise ValueError(f"deadline kind {kind!r} is undeclared or needs its due time")
    if due_at is None:
        due_at = (after or utcnow()) + policy().delay(DEADLINE_KINDS[kind])
    deadline = Deadline(case_id=case.id, kind=kind, due_at=due_at)
    db.add(deadline)
    return deadline


def pending(case: Case, *kinds: str, lock: bool = False) -> list[Deadline]:
    """The case's pending deadlines (of ``kinds``); ``lock``: locked until the commit,
    waiting for a poller that is firing one of them."""
    query = select(Deadline).where(Deadline.case_id == case.id,
                                   Deadline.status == DeadlineStatus.PENDING)
    if kinds:
        query = query.where(Deadline.kind.in_(kinds))
    if lock:
        query = query.with_for_update()
    return list(db.scalars(query))


def settle(case: Case, *kinds: str, status: DeadlineStatus = DeadlineStatus.MET) -> None:
    """The awaited step happened (MET) or no longer applies (CANCELLED).

    A deadline that already fired is settled too: its alert stays on record (audit and
    alerts), and it no longer counts as overdue once the step has happened, late.
    """
    now = utcnow()
    query = select(Deadline).where(Deadline.case_id == case.id, Deadline.status.in_(
        (DeadlineStatus.PENDING, DeadlineStatus.FIRED)))
    if kinds:
        query = query.where(Deadline.kind.in_(kinds))
    for deadline in db.scalars(query):
        deadline.status, deadline.settled_at = status, now


def overdue(case: Case, now: datetime | None = None) -> list[Deadline]:
    """Deadlines past due whose step has not happened: pending ones, and fired ones."""
    now = now or utcnow()
    return list(db.scalars(select(Deadline).where(
        Deadline.case_id == case.id, Deadline.due_at <= now,
        Deadline.status.in_((DeadlineStatus.PENDING, DeadlineStatus.FIRED)))))


FIRE_BATCH = 200


def fire_due(now: datetime | None = None, limit: int = FIRE_BATCH) -> int:
    """Fire up to ``limit`` pending deadlines that are due; the caller commits. Returns how
    many."""
    now = now or utcnow()
    due = db.scalars(select(Deadline).where(Deadline.status == DeadlineStatus.PENDING,
                                            Deadline.due_at <= now)
                     .order_by(Deadline.due_at).limit(limit)
                     .with_for_update(skip_locked=True, of=Deadline)
                     .options(selectinload(Deadline.case))).all()
    supervisors: dict[int, list[User]] = {}  # by centre
    for deadline in due:
        centre_id = deadline.case.centre_id
        if centre_id not in supervisors:
            supervisors[centre_id] = centre_supervisors(centre_id)
        _fire(deadline, _alert_recipients(deadline.case, supervisors[centre_id]), now)
    db.flush()
    return len(due)


def _fire(deadline: Deadline, recipients: list[User], now: datetime) -> None:
    deadline.status, deadline.settled_at = DeadlineStatus.FIRED, now
    case = deadline.case
    audit.record("deadline.missed", deadline, changes={
        "kind": {"new": deadline.kind}, "case_id": {"new": case.id},
        "due_at": {"new": deadline.due_at.isoformat()}})
    told_first = first_told[deadline.kind](case) if deadline.kind in first_told else []
    kind = alerts.missed(deadline.kind)
    if told_first:
        escalation, kind = ESCALATIONS[deadline.kind]
        recipients = told_first
        schedule(case, escalation, after=deadline.due_at)
    alerts.raise_alerts(kind, recipients, case_id=case.id, deadline_id=deadline.id)
    if deadline.kind == "daily_report" and case.daily_reports and case.state == "follow_up":
        schedule(case, "daily_report", due_at=deadline.due_at + timedelta(
            hours=policy().daily_report_hours))


def centre_supervisors(centre_id: int) -> list[User]:
    """The active supervisors of a centre: every alert about its work reaches them."""
    return list(db.scalars(select(User).join(Membership).where(
        Membership.organisation_id == centre_id, User.role == Role.SUPERVISOR,
        User.disabled_at.is_(None))))


def _alert_recipients(case: Case, supervisors: list[User]) -> list[User]:
    """The case owner and the supervisors of the case's centre."""
    owner = db.get(User, case.owner_id) if case.owner_id else None
    recipients = {user.id: user for user in supervisors}
    if owner is not None and owner.is_active:
        recipients[owner.id] = owner
    return list(recipients.values())
