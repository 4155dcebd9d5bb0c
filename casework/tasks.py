"""Casework's background work: the deadline poller and alert texts."""
from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from casework import deadlines
from casework.models import Alert
from crisisline.database import db, utcnow
from crisisline.i18n import DEADLINE_LABELS
from crisisline.twilio_rest import text_once

log = logging.getLogger(__name__)
UNSENT_AFTER = timedelta(minutes=1)  # an alert not texted by then lost its send


@shared_task
def fire_due_deadlines() -> int:
    """Fire the deadlines that are due; a deadline fired here is never fired again. Alerts
    whose text was never sent (a lost send) are sent now."""
    fired = deadlines.fire_due()
    db.commit()
    if fired:
        log.info("fired %d due deadline(s)", fired)
    if current_app.config["TWILIO_ACCOUNT_SID"]:
        unsent = db.scalars(select(Alert.id).where(
            Alert.sms_status.is_(None), Alert.deadline_id.is_not(None),
            Alert.created_at <= utcnow() - UNSENT_AFTER)).all()
        for alert_id in unsent:
            text_alert.delay(alert_id)
    return fired


@shared_task
def text_alert(alert_id: int) -> str:
    """Text one alert to its recipient, at most once (see ``text_once``)."""
    alert = db.scalars(select(Alert).where(Alert.id == alert_id).with_for_update()).first()
    if alert is None or alert.sms_status is not None:
        return "skipped"

    def mark(status: str, sid: str | None) -> None:
        alert.sms_status, alert.sms_sid = status, sid
    return text_once(alert.recipient.phone, current_app.config["TWILIO_FROM_NUMBER"],
                     alert_text(alert), mark, f"alert {alert_id}")


def alert_text(alert: Alert) -> str:
    """The text says which case and which step, and nothing about the student."""
    kind = alert.deadline.kind if alert.deadline else alert.kind
    with force_locale(alert.recipient.language):
        return _("Crisisline: case #%(case)s is overdue: %(step)s. Please sign in and act.",
                 case=alert.case_id, step=DEADLINE_LABELS.get(kind, kind))
