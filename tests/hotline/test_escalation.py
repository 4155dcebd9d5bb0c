"""Waiting-time escalation with a controllable clock: rollover and supervisor alerts, once."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from casework.models import Alert, RiskLevel
from crisisline.database import utcnow
from crisisline.twilio_rest import recorded_requests
from hotline import escalation
from hotline.models import Channel, Contact, ContactStatus, Priority

BACKUP = "+86012356"


@pytest.fixture
def twilio(app, monkeypatch, tmp_path):
    for key, value in {"TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "2" * 32,
                       "TWILIO_TRANSPORT": "record", "BACKUP_LINE": BACKUP}.items():
        monkeypatch.setitem(app.config, key, value)
    monkeypatch.setattr(app, "instance_path", str(tmp_path))


def waiting_contact(db, world, channel, *, waited, risk=RiskLevel.NONE, sid=None):
    contact = Contact(centre_id=world.orgs["A"].id, channel=channel, twilio_sid=sid,
                      status=ContactStatus.QUEUED, queued_at=utcnow() - waited,
                      risk_level=risk, priority=Priority.HIGH)
    db.add(contact)
    db.commit()
    return contact.id


def test_a_call_waiting_past_ninety_seconds_rolls_over_to_the_backup_line(app, ctx, world,
                                                                           twilio):
    with ctx() as db:
        fresh = waiting_contact(db, world, Channel.VOICE, waited=timedelta(seconds=60),
                                sid="CA-fresh")
        late = waiting_contact(db, world, Channel.VOICE, waited=timedelta(seconds=91),
                               sid="CA-late")
        escalation.roll_over_waiting_calls()
        db.commit()
        escalation.roll_over_waiting_calls()  # once: the second tick changes nothing
        db.commit()
        statuses = {c.id: c.status for c in db.scalars(select(Contact))}
    assert statuses[late] == ContactStatus.ROLLED_OVER
    assert statuses[fresh] == ContactStatus.QUEUED
    with app.app_context():
        [request] = [r for r in recorded_requests() if "/Calls/CA-" in r["url"]]
    assert request["url"].endswith("/Calls/CA-late.json")
    assert f"<Dial>{BACKUP}</Dial>" in request["data"]["Twiml"]


def test_without_a_backup_line_calls_keep_waiting(app, ctx, world, twilio, monkeypatch):
    monkeypatch.setitem(app.config, "BACKUP_LINE", None)
    with ctx() as db:
        waiting_contact(db, world, Channel.VOICE, waited=timedelta(minutes=5), sid="CA-x")
        escalation.roll_over_waiting_calls()
        assert db.scalar(select(Contact.status).where(Contact.twilio_sid == "CA-x")) == \
            ContactStatus.QUEUED


def test_a_high_risk_text_unanswered_for_five_minutes_alerts_the_supervisors(ctx, world):
    with ctx() as db:
        risky = waiting_contact(db, world, Channel.SMS, waited=timedelta(minutes=6),
                                risk=RiskLevel.HIGH)
        waiting_contact(db, world, Channel.SMS, waited=timedelta(minutes=4), risk=RiskLevel.HIGH)
        waiting_contact(db, world, Channel.SMS, waited=timedelta(minutes=9), risk=RiskLevel.LOW)
        escalation.alert_unanswered_risky_texts()
        db.commit()
        escalation.alert_unanswered_risky_texts()  # once: the second tick adds nothing
        db.commit()
        alerts = db.scalars(select(Alert).where(Alert.contact_id.is_not(None))).all()
    assert [(a.contact_id, a.recipient_id) for a in alerts] == [
        (risky, world.users["supervisor"].id)]
