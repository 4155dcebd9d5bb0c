"""The hotline's background work: routing, offer expiry, escalation, and Twilio's REST API
(connecting answered calls, warm transfers, SMS replies, rollover)."""
from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from flask import current_app
from sqlalchemy import select
from twilio.base.exceptions import TwilioException
from twilio.twiml.voice_response import VoiceResponse

from crisisline.accounts.models import Organisation, OrgKind, User
from crisisline.database import db, utcnow
from crisisline.realtime import emit_after_commit, user_room
from crisisline.twilio_rest import rest_client, text_once
from hotline import escalation, routing
from hotline.models import Contact, ContactMessage

log = logging.getLogger(__name__)
LOST_SEND_AFTER = timedelta(seconds=30)  # a reply still pending by then lost its task


@shared_task
def keep_the_queue_moving() -> dict:
    """Every few seconds: expire stale offers, escalate, and offer what is waiting."""
    expired = routing.expire_offers()
    rolled = escalation.roll_over_waiting_calls()
    alerted = escalation.alert_unanswered_risky_texts()
    offered = sum(routing.route(centre_id) for centre_id in db.scalars(
        select(Organisation.id).where(Organisation.kind == OrgKind.HOTLINE_CENTRE)))
    db.commit()
    lost = db.scalars(select(ContactMessage.id).where(
        ContactMessage.delivery == "pending",
        ContactMessage.created_at <= utcnow() - LOST_SEND_AFTER)).all()
    for message_id in lost:
        send_text_reply.delay(message_id)
    return {"expired": expired, "rolled_over": rolled, "alerted": alerted, "offered": offered,
            "resent": len(lost)}


@shared_task
def redirect_to_backup_line(call_sid: str) -> str:
    """Send a waiting call on to the backup line (a provincial line or 12356)."""
    client = rest_client()
    if client is None:
        log.error("cannot roll call %s over: Twilio is not configured", call_sid)
        return "not_configured"
    response = VoiceResponse()
    response.say("正在为您转接备用热线，请稍候。", language="zh-CN")
    response.dial(current_app.config["BACKUP_LINE"])
    try:
        client.calls(call_sid).update(twiml=str(response))
    except TwilioException:
        log.exception("rolling call %s over failed", call_sid)
        return "failed"
    return "redirected"


@shared_task
def route_centre(centre_id: int) -> int:
    """Offer a centre's waiting contacts now (sent after a contact joins the queue)."""
    offered = routing.route(centre_id)
    db.commit()
    return offered


@shared_task
def send_text_reply(message_id: int) -> str:
    """Text a console reply to the student, at most once (see ``text_once``)."""
    message = db.scalars(select(ContactMessage).where(ContactMessage.id == message_id)
                         .with_for_update()).first()
    if message is None or message.delivery != "pending":
        return "skipped"
    contact = message.contact

    def mark(status: str, sid: str | None) -> None:
        message.delivery, message.twilio_sid = status, sid
        if status == "sent" and contact.handled_by_id is not None:  # the console shows it
            emit_after_commit("contact.updated",
                              {"contact_id": contact.id, "message_id": message.id},
                              room=user_room(contact.handled_by_id))
    return text_once(contact.caller_number, _hotline_number(contact), message.body, mark,
                     f"reply {message_id}")


@shared_task
def connect_call(contact_id: int) -> str:
    """An answered call: the caller leaves the queue for the contact's conference and the
    person who accepted it is dialled into it."""
    contact = db.get(Contact, contact_id)
    client = rest_client()
    if client is None or contact is None:
        log.error("cannot connect call for contact %s: Twilio is not configured", contact_id)
        return "not_configured"
    try:
        client.calls(contact.twilio_sid).update(
            url=_conference_url(contact, "caller"),
            method="POST")
    except TwilioException:
        log.exception("moving the caller of contact %s into conference failed", contact_id)
        return "failed"
    return _dial(client, contact, db.get(User, contact.handled_by_id))


@shared_task
def dial_into_call(contact_id: int, user_id: int) -> str:
    """A warm transfer: dial a counselor into the caller's conference."""
    contact = db.get(Contact, contact_id)
    client = rest_client()
    if client is None or contact is None:
        log.error("cannot transfer contact %s: Twilio is not configured", contact_id)
        return "not_configured"
    return _dial(client, contact, db.get(User, user_id))


def _dial(client, contact: Contact, user: User | None) -> str:
    if user is None or not user.phone:
        log.error("cannot dial staff into contact %s: no phone number on their account",
                  contact.id)
        return "no_phone"
    try:
        client.calls.create(to=user.phone, from_=_hotline_number(contact),
                            url=_conference_url(contact, "staff"),
                            method="POST")
    except TwilioException:
        log.exception("dialling %s into contact %s failed", user.username, contact.id)
        return "failed"
    return "dialled"


def _hotline_number(contact: Contact) -> str | None:
    centre = db.get(Organisation, contact.centre_id)
    return (centre.hotline_number if centre else None) or current_app.config["TWILIO_FROM_NUMBER"]


def _conference_url(contact: Contact, leg: str) -> str:
    """Where Twilio fetches the TwiML that joins ``leg`` to the contact's conference."""
    return f"{current_app.config['PUBLIC_URL']}/twilio/voice/conference/{contact.id}/{leg}"
