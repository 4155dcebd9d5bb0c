"""Waiting-time escalation: what happens to a contact nobody has answered yet.

After the policy's rollover time a call is sent on to ``CRISISLINE_BACKUP_LINE`` (through
Twilio's REST API, from a task after commit); a high-risk text or chat unanswered for the
policy's minutes alerts the centre's supervisors. (Counselors joining after 30 s is part of
routing.) Each happens once per contact.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from casework import alerts
from casework.models import RiskLevel
from casework.policy import policy
from crisisline import audit
from crisisline.accounts.models import Membership, Role, User
from crisisline.database import db, on_commit, utcnow
from hotline.models import Channel, Contact, ContactStatus

WAITING = (ContactStatus.QUEUED, ContactStatus.OFFERED)


def roll_over_waiting_calls(now: datetime | None = None) -> int:
    """Calls that waited past the rollover time go to the backup line."""
    if not current_app.config["BACKUP_LINE"]:
        return 0
    now = now or utcnow()
    late = db.scalars(select(Contact).where(
        Contact.channel == Channel.VOICE, Contact.status.in_(WAITING),
        Contact.queued_at <= now - timedelta(seconds=policy().rollover_seconds))
        .with_for_update(skip_locked=True)).all()
    for contact in late:
        contact.status = ContactStatus.ROLLED_OVER
        audit.record("contact.rolled_over", contact, actor="system",
                     changes={"status": {"new": contact.status.value}})
        from hotline.tasks import redirect_to_backup_line
        on_commit(lambda sid=contact.twilio_sid: redirect_to_backup_line.delay(sid))
    return len(late)


def alert_unanswered_risky_texts(now: datetime | None = None) -> int:
    """A high-risk text or chat nobody has answered in time: its supervisors are told."""
    now = now or utcnow()
    late = db.scalars(select(Contact).where(
        Contact.channel.in_((Channel.SMS, Channel.WEB_CHAT)), Contact.status.in_(WAITING),
        Contact.risk_level.in_((RiskLevel.HIGH, RiskLevel.IMMINENT)),
        Contact.supervisor_alerted_at.is_(None),
        Contact.queued_at <= now - timedelta(minutes=policy().text_alert_minutes))
        .with_for_update(skip_locked=True)).all()
    for contact in late:
        contact.supervisor_alerted_at = now
        supervisors = db.scalars(select(User).join(Membership).where(
            Membership.organisation_id == contact.centre_id, User.role == Role.SUPERVISOR,
            User.disabled_at.is_(None))).all()
        alerts.raise_alerts(alerts.UNANSWERED_HIGH_RISK_TEXT, supervisors,
                            contact_id=contact.id)
        audit.record("contact.supervisor_alerted", contact, actor="system",
                     changes={"supervisors": {"new": [s.username for s in supervisors]}})
    return len(late)
