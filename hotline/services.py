"""Hotline intake: calls and texts into one prioritised queue.

Webhook handlers call these with Twilio's plain values; each is idempotent on Twilio's ids
(CallSid, MessageSid, and a call's status), because Twilio retries: a repeated request
changes nothing more. None of them calls Twilio's REST API; replies that need it go out
from a Celery task after commit.
"""
from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from casework import services as casework_services
from casework.models import Case, RiskLevel
from crisisline import audit
from crisisline.accounts.models import Organisation, OrgKind, Role
from crisisline.database import db, on_commit, utcnow
from crisisline.access.rules import EDIT, can
from crisisline.errors import Conflict, Forbidden, InvalidInput, NotFound
from crisisline.realtime import emit_after_commit
from hotline import cssrs, triage
from hotline.models import (CallbackAttempt, Channel, Contact, ContactMessage, ContactStatus,
                            Priority, WebhookReceipt)

WAITING = (ContactStatus.QUEUED, ContactStatus.OFFERED)
OPEN = (ContactStatus.IVR, ContactStatus.QUEUED, ContactStatus.OFFERED, ContactStatus.ACTIVE,
        ContactStatus.WRAP_UP)
RISKY = (RiskLevel.HIGH, RiskLevel.IMMINENT)
UNANSWERED_ENDINGS = ("completed", "canceled", "busy", "failed", "no-answer")


def centre_for(number: str | None) -> Organisation:
    """The centre whose hotline number was dialled (the first centre if none matches)."""
    centre = db.scalar(select(Organisation).where(Organisation.kind == OrgKind.HOTLINE_CENTRE,
                                                  Organisation.hotline_number == number))
    centre = centre or db.scalar(select(Organisation).where(
        Organisation.kind == OrgKind.HOTLINE_CENTRE).order_by(Organisation.id))
    if centre is None:
        raise NotFound("no hotline centre is set up")
    return centre


def receive_call(call_sid: str, caller: str | None, dialled: str | None) -> Contact:
    """A call arrives and hears the greeting menu; once per CallSid."""
    contact = db.scalar(select(Contact).where(Contact.twilio_sid == call_sid))
    if contact is not None:
        return contact
    contact = Contact(centre_id=centre_for(dialled).id, channel=Channel.VOICE,
                      twilio_sid=call_sid, caller_number=caller, status=ContactStatus.IVR,
                      priority=_repeat_caller_priority(caller))
    db.add(contact)
    db.flush()
    audit.record("contact.call_received", contact, actor="twilio")
    return contact


def choose_from_menu(call_sid: str, digits: str | None) -> Contact:
    """1: in danger now (imminent first); 2: English; anything else: the queue as it is."""
    contact = call(call_sid)
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
    contact = db.scalar(select(Contact).where(Contact.twilio_sid == call_sid))
    if contact is None or status not in UNANSWERED_ENDINGS:
        return contact
    if contact.status in (ContactStatus.IVR, *WAITING):
        contact.status = ContactStatus.ABANDONED
    elif contact.status in OPEN:
        contact.status = ContactStatus.ENDED
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
    db.add(ContactMessage(contact=contact, inbound=True, body=body or "",
                          twilio_sid=message_sid))
    assessment = triage.assess(body or "")
    risk = triage.raised(contact.risk_level.value, assessment)
    if risk != contact.risk_level.value:
        contact.risk_level = RiskLevel(risk)
        if assessment.raises_priority:
            contact.priority = max(contact.priority, Priority.IMMINENT if risk == "imminent"
                                   else Priority.HIGH)
    db.flush()
    audit.record("contact.text_received", contact, actor="twilio", changes={
        "risk_level": {"new": contact.risk_level.value}, "priority": {"new": contact.priority},
        "triage": {"new": assessment.explain()}})
    _queue_changed(centre.id)
    return contact, started


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


def call(call_sid: str) -> Contact:
    contact = db.scalar(select(Contact).where(Contact.twilio_sid == call_sid))
    if contact is None:
        raise NotFound(f"no call {call_sid}")
    return contact


def _enqueue(contact: Contact) -> None:
    contact.status, contact.queued_at = ContactStatus.QUEUED, utcnow()
    db.flush()
    _queue_changed(contact.centre_id)
    from hotline.tasks import route_centre  # offered at once, not on the next tick
    on_commit(lambda centre_id=contact.centre_id: route_centre.delay(centre_id))


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
    emit_after_commit("queue.updated", {"centre_id": centre_id}, room=f"queue:{centre_id}")


def screen(actor, contact_id: int, answers: dict) -> Contact:
    """The volunteer's C-SSRS screen of their contact sets its assessed risk."""
    contact = _handled_contact(actor, contact_id)
    level = cssrs.risk(answers)
    contact.screening, contact.screened_at = dict(answers), utcnow()
    contact.risk_level = RiskLevel(level)
    audit.record("contact.screen", contact, changes=audit.diff(contact))
    return contact


def escalate(actor, contact_id: int, summary: str = "") -> Case:
    """A high-risk contact becomes a crisis case in ``reported`` for the on-duty team."""
    contact = _handled_contact(actor, contact_id)
    if contact.case_id is not None:
        raise Conflict("this contact is already linked to a case", case_id=contact.case_id)
    if contact.risk_level not in RISKY:
        raise InvalidInput({"risk_level": "screen the contact as high risk before escalating"})
    case = casework_services.open_case(
        actor, source="hotline_contact", risk_level=contact.risk_level.value,
        summary=summary or f"热线来电升级（{contact.channel.value}, C-SSRS "
                           f"{contact.risk_level.value}）")
    db.flush()
    contact.case_id = case.id
    audit.record("contact.escalate", contact, changes={"case_id": {"new": case.id}})
    if case.team_id is not None:
        emit_after_commit("case.updated", {"case_id": case.id, "state": case.state},
                          room=f"team:{case.team_id}")
    return case


def _handled_contact(actor, contact_id: int) -> Contact:
    contact = db.get(Contact, contact_id)
    if contact is None:
        raise NotFound(f"contact {contact_id} does not exist")
    if not can(actor, EDIT, contact):
        raise Forbidden("you may not act on this contact", object_type="contact",
                        object_id=contact.id)
    return contact


def callback_list(actor) -> list[Contact]:
    """Callers who hung up unanswered and have not been reached back, riskiest first."""
    if actor.role not in (Role.VOLUNTEER, Role.COUNSELOR, Role.SUPERVISOR):
        raise Forbidden("only hotline staff call back")
    reached = select(CallbackAttempt.contact_id).where(CallbackAttempt.reached.is_(True))
    return list(db.scalars(select(Contact).where(
        Contact.centre_id.in_(actor.centre_ids), Contact.status == ContactStatus.ABANDONED,
        Contact.id.not_in(reached)).order_by(Contact.priority.desc(), Contact.ended_at)))


def record_callback(actor, contact_id: int, *, reached: bool, note: str = "") -> CallbackAttempt:
    """One try to call an abandoned caller back; a reached caller leaves the list."""
    contact = db.get(Contact, contact_id)
    if contact is None or contact.status != ContactStatus.ABANDONED \
            or contact.centre_id not in actor.centre_ids:
        raise NotFound(f"no abandoned call {contact_id} on your centre's callback list")
    attempt = CallbackAttempt(contact_id=contact.id, attempted_by_id=actor.id, reached=reached,
                              note=(note or "")[:2000])
    db.add(attempt)
    audit.record("callback_attempt.create", attempt, changes={
        "contact_id": {"new": contact.id}, "reached": {"new": reached}})
    return attempt
