"""The supervisor's wallboard: the hotline's state now and over the last hours, for one
supervisor's centres, computed in a handful of aggregate queries."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select

from casework.models import Case, Deadline, DeadlineStatus
from crisisline.accounts.models import User
from crisisline.database import db, utcnow
from hotline.intake import RISKY, WAITING
from hotline.models import Contact, ContactStatus, Presence
from state_machines.presence import STATES

SERVICE_LEVEL_SECONDS = 20  # "answered within 20 s"
WINDOW = timedelta(hours=24)


@dataclass
class Wallboard:
    queue_length: int
    longest_wait_seconds: int | None
    answered: int
    answered_in_time: int
    abandoned: int
    staff_by_status: dict[str, int]
    risky_contacts: list[Contact]
    overdue_steps: list[Deadline]
    away: list[tuple[User, datetime]] = field(default_factory=list)  # missed offers: who, since
    contacts_by_hour: list[tuple[datetime, int]] = field(default_factory=list)

    @property
    def service_level(self) -> float | None:
        """The share of contacts answered within 20 s of joining the queue."""
        return self.answered_in_time / self.answered if self.answered else None

    @property
    def abandon_rate(self) -> float | None:
        """The share of calls that hung up before anyone answered them."""
        offered = self.answered + self.abandoned
        return self.abandoned / offered if offered else None


def wallboard(supervisor: User, now: datetime | None = None) -> Wallboard:
    now = now or utcnow()
    centres = sorted(supervisor.centre_ids)
    mine = Contact.centre_id.in_(centres)
    since = now - WINDOW

    waiting = db.execute(select(func.count(Contact.id), func.min(Contact.queued_at))
                         .where(mine, Contact.status.in_(WAITING))).one()
    waits = [answered_at - queued_at for queued_at, answered_at in db.execute(
        select(Contact.queued_at, Contact.answered_at).where(
            mine, Contact.queued_at >= since, Contact.answered_at.is_not(None)))]
    answered = len(waits)
    answered_in_time = sum(wait <= timedelta(seconds=SERVICE_LEVEL_SECONDS) for wait in waits)
    abandoned = db.scalar(select(func.count(Contact.id)).where(
        mine, Contact.queued_at >= since, Contact.status == ContactStatus.ABANDONED))
    staff = dict.fromkeys(STATES, 0)
    staff.update(db.execute(select(Presence.state, func.count()).where(
        Presence.centre_id.in_(centres)).group_by(Presence.state)).all())
    risky = db.scalars(select(Contact).where(
        mine, Contact.risk_level.in_(RISKY),
        Contact.status.in_((*WAITING, ContactStatus.ACTIVE)))
        .order_by(Contact.priority.desc(), Contact.queued_at).limit(50)).all()
    overdue = db.scalars(select(Deadline).join(Case, Case.id == Deadline.case_id).where(
        Case.centre_id.in_(centres), Deadline.due_at <= now,
        Deadline.status.in_((DeadlineStatus.PENDING, DeadlineStatus.FIRED)))
        .order_by(Deadline.due_at).limit(50)).all()
    away = db.execute(select(User, Presence.since).join(Presence, Presence.user_id == User.id)
                      .where(Presence.centre_id.in_(centres), Presence.state == "away")
                      .order_by(Presence.since)).all()
    queued_times = db.scalars(select(Contact.queued_at).where(
        mine, Contact.queued_at >= now - timedelta(hours=12))).all()

    longest = int((now - waiting[1]).total_seconds()) if waiting[1] else None
    return Wallboard(queue_length=waiting[0], longest_wait_seconds=longest,
                     answered=answered, answered_in_time=answered_in_time, abandoned=abandoned,
                     staff_by_status=staff, risky_contacts=list(risky),
                     overdue_steps=list(overdue), away=[tuple(row) for row in away],
                     contacts_by_hour=_by_hour(queued_times, now, hours=12))


def _by_hour(times: list[datetime], now: datetime, hours: int) -> list[tuple[datetime, int]]:
    """Contacts per hour for the last ``hours`` hours, oldest first."""
    top = now.replace(minute=0, second=0, microsecond=0)
    starts = [top - timedelta(hours=back) for back in range(hours - 1, -1, -1)]
    counts = dict.fromkeys(starts, 0)
    for moment in times:
        hour = moment.replace(minute=0, second=0, microsecond=0)
        if hour in counts:
            counts[hour] += 1
    return list(counts.items())
