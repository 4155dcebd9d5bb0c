"""Hotline intake: calls, texts and web chats into one prioritised queue.

Webhook handlers call these with Twilio's plain values; each is idempotent on Twilio's ids
(CallSid, MessageSid, and a call's status), because Twilio retries: a repeated request
changes nothing more. None of them calls Twilio's REST API; what needs it goes out from a
Celery task after commit.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from casework.models import RiskLevel
from crisisline import audit
from crisisline.accounts.models import Organisation, OrgKind
from crisisline.database import db, utcnow
from crisisline.errors import Conflict, InvalidInput, NotFound
from crisisline.realtime import emit_after_commit, queue_room, user_room
from hotline import routing, triage
from hotline.models import (Channel, Contact, ContactMessage, ContactStatus, Priority,
                            WebhookReceipt)

WAITING = (ContactStatus.QUEUED, ContactStatus.OFFERED)
OPEN = (ContactStatus.IVR, ContactStatus.QUEUED, ContactStatus.OFFERED, ContactStatus.ACTIVE,
        ContactStatus.WRAP_UP)
RISKY = (RiskLevel.HIGH, RiskLevel.IMMINENT)
UNANSWERED_ENDINGS = ("completed", "canceled", "busy", "failed", "no-answer")
MAX_MESSAGE = 2000  # characters of one chat message


def centre_for(number: str | None) -> Organisation:
    """The centre whose hotline number was dialled (the first centre if none matches)."""
    centre = Organisation.by_number(number) if number else None
    centre = centre or db.scalar(select(Organisation).where(
        Organisation.kind == OrgKind.HOTLINE_CENTRE).order_by(Organisation.id))
    if centre is None:
        raise NotFound(_l("no hotline centre is set up"))
    return centre


def receive_call(call_sid: str, caller: str | None, dialled: str | None) -> Contact:
    """A call arrives and hears the greeting menu; once per CallSid."""
    contact = db.scalar(select(Contact).where(Contact.twilio_sid == call_sid))
    if contact is not None:
        return contact
    contact = Contact(centre_id=centre_for(dialled).id, channel=Channel.VOICE,
                      twilio_sid=call_sid, caller_number=caller, status=ContactStatus.IVR,
                      priority=_repeat_caller_priority(caller))
    try:
        with db.begin_nested():  # the same call taken in at once elsewhere (a retry)
            db.add(contact)
    except IntegrityError:  # ... wins on the unique CallSid: this request is its replay
        contact = db.scalar(select(Contact).where(Contact.twilio_sid == call_sid))
        if contact is None:
            raise
        return contact
    audit.record("contact.call_received", contact, actor="twilio")
    return contact


def choose_from_menu(call_sid: str, digits: str | None) -> Contact:
    """1: in danger now (imminent first); 2: English; anything else: the queue as it is."""
    contact = call(call_sid, lock=True)  # a retry answered at once elsewhere waits here
    if contact.status != ContactStatus.IVR:
        return contact  # a retried menu request
    if digits == "1":
        contact.priority = Priority.IMMINENT
        contact.risk_level = RiskLevel.IMMINENT
    elif digits == "2":
        contact.language = "en"
    _enqueue(contact)
    audit.record("contact.queued", contact, actor="twilio", changes=audit.diff(contact))
    return contact


def call_status(call_sid: str, status: str) -> Contact | None:
    """Twilio's status callback: a caller who hangs up unanswered lands on the callback list."""
    if not _first_receipt(call_sid, status):
        return None
    contact = db.scalar(_the_call(call_sid, lock=True))  # not while its menu is answered
    if contact is None or status not in UNANSWERED_ENDINGS:
        return contact
    if contact.status in (ContactStatus.IVR, *WAITING):
        contact.status = ContactStatus.ABANDONED
    elif contact.status == ContactStatus.ACTIVE:
        contact.status = ContactStatus.WRAP_UP  # its summary and wrap-up code still to come
        _handler_finishes(contact)
    contact.ended_at = contact.ended_at or utcnow()
    audit.record("contact.call_ended", contact, actor="twilio", changes=audit.diff(contact))
    _queue_changed(contact.centre_id)
    return contact


def receive_text(message_sid: str, sender: str, dialled: str | None, body: str
                 ) -> tuple[Contact, bool]:
    """An SMS joins its sender's open conversation, or starts one (``True``) in the queue.

    Its words can raise the conversation's risk and priority, never lower them.
    """
    known = db.scalar(select(ContactMessage).where(ContactMessage.twilio_sid == message_sid))
    if known is not None:
        return known.contact, False
    centre = centre_for(dialled)
    contact = db.scalar(select(Contact).where(
        Contact.channel == Channel.SMS, Contact.caller_number == sender,
        Contact.centre_id == centre.id, Contact.status.in_(OPEN)).order_by(Contact.id.desc()))
    started = contact is None
    if started:
        contact = Contact(centre_id=centre.id, channel=Channel.SMS, caller_number=sender,
                          priority=_repeat_caller_priority(sender), risk_level=RiskLevel.NONE)
        db.add(contact)
        _enqueue(contact)
    take_in_message(contact, body or "", twilio_sid=message_sid, actor="twilio")
    return contact, started


def start_chat(centre_id: int | None, body: str, language: str = "zh") -> Contact:
    """An anonymous student's first web-chat message opens a conversation in the queue."""
    body = _chat_body(body)
    centre = db.get(Organisation, centre_id) if centre_id else centre_for(None)
    if centre is None or centre.kind != OrgKind.HOTLINE_CENTRE:
        raise NotFound(_l("no such hotline centre"))
    contact = Contact(centre_id=centre.id, channel=Channel.WEB_CHAT,
                      language="en" if language == "en" else "zh",
                      risk_level=RiskLevel.NONE, priority=Priority.NORMAL)
    db.add(contact)
    _enqueue(contact)
    take_in_message(contact, body, actor="web_chat")
    return contact


def receive_chat(contact_id: int, body: str) -> ContactMessage:
    """A later message of an open web chat."""
    body = _chat_body(body)
    contact = db.get(Contact, contact_id)
    if contact is None or contact.channel != Channel.WEB_CHAT:
        raise NotFound(_l("This conversation could not be found. Reload the page to start a "
                          "new one."))
    if contact.status not in OPEN:
        raise Conflict(_l("This conversation has ended. Reload the page to start a new one."))
    return take_in_message(contact, body, actor="web_chat")


def _chat_body(body: str | None) -> str:
    body = (body or "").strip()
    if not body:
        raise InvalidInput({"body": _l("Write a message first.")})
    if len(body) > MAX_MESSAGE:
        raise InvalidInput({"body": _l("That message is too long (at most %(n)d characters); "
                                       "please split it up.", n=MAX_MESSAGE)})
    return body


def take_in_message(contact: Contact, body: str, *, actor: str,
                    twilio_sid: str | None = None) -> ContactMessage:
    """Keep an inbound text or chat message; its words can raise the contact's risk and
    priority, never lower them. The person handling it hears of it at once."""
    message = ContactMessage(contact=contact, inbound=True, body=body, twilio_sid=twilio_sid)
    db.add(message)
    judged = triage.judge(body)
    message.triage = judged.explain()  # shown on the contact page
    risk = triage.raised(contact.risk_level.value, judged)
    if risk != contact.risk_level.value:
        contact.risk_level = RiskLevel(risk)
        if judged.raises_priority:
            contact.priority = max(contact.priority, Priority.IMMINENT if risk == "imminent"
                                   else Priority.HIGH)
    db.flush()
    action = "contact.text_received" if contact.channel == Channel.SMS else "contact.chat_received"
    audit.record(action, contact, actor=actor, changes={
        "message_id": {"new": message.id},
        "risk_level": {"new": contact.risk_level.value}, "priority": {"new": contact.priority},
        "triage": {"new": judged.lexicon.explain()},
        "model": {"new": {"level": judged.model.level,
                          "probability": round(judged.model.probability, 3)}}})
    if contact.handled_by_id is not None:
        emit_after_commit("contact.updated", {"contact_id": contact.id, "message_id": message.id},
                          room=user_room(contact.handled_by_id))
    _queue_changed(contact.centre_id)
    return message


def waiting(centre_id: int) -> list[Contact]:
    """The queue: imminent first, then by how long each has waited."""
    return list(db.scalars(select(Contact).where(Contact.centre_id == centre_id,
                                                 Contact.status.in_(WAITING))
                           .order_by(Contact.priority.desc(), Contact.queued_at, Contact.id)))


def position(contact: Contact) -> int:
    """1 for the next contact to be answered."""
    ahead = db.scalar(select(func.count(Contact.id)).where(
        Contact.centre_id == contact.centre_id, Contact.status.in_(WAITING),
        or_(Contact.priority > contact.priority,
            (Contact.priority == contact.priority) & (Contact.queued_at < contact.queued_at))))
    return ahead + 1


def call(call_sid: str, *, lock: bool = False) -> Contact:
    """The call's contact; ``lock``: to change it, so that webhooks of the same call (a
    retry handled by another process) change it one after the other."""
    contact = db.scalar(_the_call(call_sid, lock=lock))
    if contact is None:
        raise NotFound(_l("no such call"))
    return contact


def _the_call(call_sid: str, *, lock: bool = False):
    query = select(Contact).where(Contact.twilio_sid == call_sid)
    return query.with_for_update().execution_options(populate_existing=True) if lock else query


def _enqueue(contact: Contact) -> None:
    contact.status, contact.queued_at = ContactStatus.QUEUED, utcnow()
    db.flush()
    _queue_changed(contact.centre_id)
    routing.route_after_commit(contact.centre_id)  # offered at once, not on the next tick


def _repeat_caller_priority(number: str | None) -> int:
    """A caller whose last contact was high risk is answered ahead of the queue."""
    if not number:
        return Priority.NORMAL
    last = db.scalar(select(Contact.risk_level).where(Contact.caller_number == number)
                     .order_by(Contact.id.desc()).limit(1))
    return Priority.HIGH if last in RISKY else Priority.NORMAL


def _first_receipt(sid: str, status: str) -> bool:
    """Record a webhook's (id, status) once; False when it was seen before."""
    if db.scalar(select(WebhookReceipt.id).where(WebhookReceipt.sid == sid,
                                                 WebhookReceipt.status == status)):
        return False
    try:
        with db.begin_nested():  # a concurrent duplicate loses on the unique constraint
            db.add(WebhookReceipt(sid=sid, status=status))
    except IntegrityError:
        return False
    return True


def _queue_changed(centre_id: int) -> None:
    emit_after_commit("queue.updated", {"centre_id": centre_id}, room=queue_room(centre_id))


def _handler_finishes(contact: Contact) -> None:
    """The person on a contact that has ended moves to wrap-up."""
    presence = routing.presence_of_id(contact.handled_by_id)
    if presence is not None and presence.state == "busy":
        routing.move(presence, "finish")
