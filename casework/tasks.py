"""Casework's background work: the deadline poller and alert texts."""
from __future__ import annotations

import logging
import time
from datetime import timedelta

from celery import shared_task
from flask import current_app
from flask_babel import force_locale
from sqlalchemy import select

from casework import alerts, deadlines
from casework.models import Alert
from crisisline.database import db, utcnow
from crisisline.i18n import DEADLINE_LABELS
from crisisline.twilio_rest import TEXT_CHUNK, Text, text_each_once

log = logging.getLogger(__name__)
UNSENT_AFTER = timedelta(minutes=1)  # an alert not texted by then lost its send


DRAIN_SECONDS = 30  # one poll fires batch after batch for at most this long


@shared_task
def fire_due_deadlines() -> int:
    """Fire the deadlines that are due, a batch at a time until none is left; a deadline
    fired here is never fired again. Alerts whose text was never sent (a lost send) are
    sent now."""
    fired, started = 0, time.monotonic()
    while time.monotonic() - started < DRAIN_SECONDS:
        batch = deadlines.fire_due()
        db.commit()
        fired += batch
        if batch < deadlines.FIRE_BATCH:
            break
    if fired:
        log.info("fired %d due deadline(s)", fired)
    if current_app.config["TWILIO_ACCOUNT_SID"]:
        unsent = db.scalars(select(Alert.id).where(
            Alert.sms_status.is_(None), Alert.kind.in_(alerts.texted_kinds()),
            Alert.created_at <= utcnow() - UNSENT_AFTER)).all()
        if unsent:
            text_alerts.delay(list(unsent))
    return fired


@shared_task
def text_alerts(alert_ids: list[int]) -> list[str]:
    """Text each alert to its recipient, at most once (see ``text_each_once``), a chunk at
    a time; an alert already texted, or being texted by another worker, is skipped."""
    outcomes: dict[int, str] = {}
    for first in range(0, len(alert_ids), TEXT_CHUNK):
        # locked and checked right before it is marked: a chunk waits for no other's texts
        alerts = db.scalars(select(Alert).where(
            Alert.id.in_(alert_ids[first:first + TEXT_CHUNK]), Alert.sms_status.is_(None))
            .order_by(Alert.id).with_for_update(skip_locked=True)).all()
        texts = [Text(alert.recipient.phone, alert_text(alert), _marker(alert),
                      f"alert {alert.id}") for alert in alerts]
        outcomes.update(zip((alert.id for alert in alerts),
                            text_each_once(texts, current_app.config["TWILIO_FROM_NUMBER"])))
    db.commit()
    return [outcomes.get(alert_id, "skipped") for alert_id in alert_ids]


def _marker(alert: Alert):
    def mark(status: str, sid: str | None) -> None:
        alert.sms_status, alert.sms_sid = status, sid
    return mark


def alert_text(alert: Alert) -> str:
    """The text its kind declares: which case, step or report, nothing about the
    student."""
    step = alert.deadline.kind if alert.deadline else alert.kind
    with force_locale(alert.recipient.language):
        return str(alerts.KINDS[alert.kind].text) % {
            "case": alert.case_id, "report": alert.school_report_id,
            "unit": alert.unit.path if alert.unit else None,
            "warning": alert.screening_warning_id, "entry": alert.watch_entry_id,
            "step": DEADLINE_LABELS.get(step, step)}
