"""What hotline staff do with a contact: screen it, reply, transfer, escalate, wrap it up,
and call back those who hung up. Callers commit; side effects (texts, calls, pushes) follow
the commit.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from casework import services as casework_services, students
from casework.models import Case, RiskLevel
from crisisline import audit
from crisisline.access.rules import EDIT, can
from crisisline.accounts.models import Role, User
from crisisline.database import db, on_commit, utcnow
from crisisline.errors import Conflict, Forbidden, InvalidInput, NotFound
from crisisline.extensions import socketio
from crisisline.i18n import RECORD_LABELS
from crisisline.realtime import emit_after_commit, user_room
from hotline import cssrs, routing
from hotline.intake import RISKY
from hotline.models import (CallbackAttempt, Channel, Contact, ContactMessage, ContactStatus,
                            Presence)

CATEGORIES = ("suicidal_thoughts", "self_harm", "academic_pressure", "family", "relationships",
              "bullying", "loneliness", "abuse", "mental_illness", "information", "other")
WRAP_UP_CODES = ("supported", "escalated_to_case", "referred_elsewhere", "callback_agreed",
                 "caller_disconnected", "silent_or_prank")
RISK_ORDER = list(RiskLevel)
MAX_REPLY = 1600  # Twilio's limit for one SMS body


CHAT_NAMESPACE = "/chat"


def chat_room(contact_id: int) -> str:
    """The anonymous student's side of a web chat."""
    return f"chat:{contact_id}"


def to_student(event: str, payload: dict, contact: Contact) -> None:
    """Push to the student's chat page, after commit."""
    on_commit(lambda: socketio.emit(event, payload, to=chat_room(contact.id),
                                    namespace=CHAT_NAMESPACE))


def screen(actor, contact_id: int, answers: dict) -> Contact:
    """The volunteer's C-SSRS screen of their contact. Its risk (Columbia's triage) is kept
    as the screen's; the contact's risk becomes the higher of it and what was known before
    (a caller who pressed 1 stays imminent)."""
    contact = _handled_contact(actor, contact_id)
    level = RiskLevel(cssrs.risk(answers))
    contact.screening, contact.screened_at = dict(answers), utcnow()
    contact.screened_risk = level
    contact.risk_level = max(contact.risk_level, level, key=RISK_ORDER.index)
    audit.record("contact.screen", contact, changes=audit.diff(contact))
    return contact


def risk_words(contact: Contact) -> list[tuple[dict, ContactMessage]]:
    """The words triage matched in a conversation's inbound messages, each with its level,
    weight and category and the message it came in, as they were when it came in."""
    return [(match, message) for message in contact.messages
            if message.inbound and message.triage for match in message.triage["matches"]]


def second_opinions(contact: Contact) -> list[tuple[dict, ContactMessage]]:
    """The learned model's opinion of each inbound message that has one, with the message:
    its level, probability and the labelled examples nearest the message."""
    return [(message.triage["model"], message) for message in contact.messages
            if message.inbound and message.triage and message.triage.get("model")]


def escalate(actor, contact_id: int, summary: str = "", *,
             student_id: int | None = None) -> Case:
    """A high-risk contact becomes a crisis case in ``reported`` for the on-duty team, about
    the student the person found by search (``student_id``); without one, the case records
    that the student was not identified."""
    contact = _handled_contact(actor, contact_id)
    if contact.case_id is not None:
        raise Conflict(_l("this contact is already linked to case #%(case)d", case=contact.case_id),
                       case_id=contact.case_id)
    problems = {}
    if contact.risk_level not in RISKY:
        problems["risk_level"] = _l("screen the contact as high risk before escalating")
    if student_id is not None and students.pickable(actor, student_id, contact.id) is None:
        problems["student_id"] = _l("no such student at a school your centre serves")
    if problems:
        raise InvalidInput(problems)
    case = casework_services.open_case(
        actor, source="hotline_contact", risk_level=contact.risk_level.value,
        summary=summary or f"热线来电升级（{contact.channel.value}, C-SSRS "
                           f"{contact.risk_level.value}）", student_id=student_id,
        student_not_identified=student_id is None)
    db.flush()
    contact.case_id = case.id
    audit.record("contact.escalate", contact, changes={
        "case_id": {"new": case.id}, "student_id": {"new": student_id}})
    return case


def _handled_contact(actor, contact_id: int) -> Contact:
    contact = db.get(Contact, contact_id)
    if contact is None:
        raise NotFound(_l("%(record)s %(id)s does not exist", record=RECORD_LABELS["contact"],
                          id=contact_id))
    if not can(actor, EDIT, contact):
        raise Forbidden(_l("you may not act on this contact"), object_type="contact",
                        object_id=contact.id)
    return contact


def callback_list(actor) -> list[Contact]:
    """Callers who hung up unanswered and have not been reached back, riskiest first."""
    if actor.role not in (Role.VOLUNTEER, Role.COUNSELOR, Role.SUPERVISOR):
        raise Forbidden(_l("only hotline staff call back"))
    reached = select(CallbackAttempt.contact_id).where(CallbackAttempt.reached.is_(True))
    return list(db.scalars(select(Contact).where(
        Contact.centre_id.in_(actor.centre_ids), Contact.status == ContactStatus.ABANDONED,
        Contact.id.not_in(reached)).order_by(Contact.priority.desc(), Contact.ended_at)))


def record_callback(actor, contact_id: int, *, reached: bool, note: str = "") -> CallbackAttempt:
    """One try to call an abandoned caller back; a reached caller leaves the list."""
    contact = db.get(Contact, contact_id)
    if contact is None or contact.status != ContactStatus.ABANDONED \
            or contact.centre_id not in actor.centre_ids:
        raise NotFound(_l("this call is not on your centre's callback list"))
    attempt = CallbackAttempt(contact_id=contact.id, attempted_by_id=actor.id, reached=reached,
                              note=(note or "")[:2000])
    db.add(attempt)
    audit.record("callback_attempt.create", attempt, changes={
        "contact_id": {"new": contact.id}, "reached": {"new": reached}})
    return attempt


def reply(actor: User, contact_id: int, body: str) -> ContactMessage:
    """A reply to an SMS or web-chat conversation. An SMS goes out through Twilio from a
    task after commit (at most once); a chat reply reaches the student's page after commit."""
    contact = _handled_contact(actor, contact_id)
    if contact.channel == Channel.VOICE:
        raise InvalidInput({"body": _l("a call is answered by voice, not by text")})
    if contact.status != ContactStatus.ACTIVE:
        raise Conflict(_l("only an answered, open conversation can be replied to"))
    body = (body or "").strip()
    if not body:
        raise InvalidInput({"body": _l("write a reply")})
    if len(body) > MAX_REPLY:
        raise InvalidInput({"body": _l("a reply may be at most %(n)d characters", n=MAX_REPLY)})
    texted = contact.channel == Channel.SMS
    message = ContactMessage(contact=contact, inbound=False, body=body, sent_by_id=actor.id,
                             delivery="pending" if texted else "delivered")
    db.add(message)
    db.flush()
    audit.record("contact_message.create", message, changes={
        "contact_id": {"new": contact.id}, "delivery": {"new": message.delivery}})
    if texted:
        from hotline.tasks import send_text_reply
        on_commit(lambda message_id=message.id: send_text_reply.delay(message_id))
    else:
        to_student("chat.message", {"id": message.id, "body": body, "inbound": False,
                                    "at": message.created_at.isoformat()}, contact)
    return message


def transfer(actor: User, contact_id: int) -> Contact:
    """Warm transfer to the longest-idle available on-duty counselor: for a call, they are
    dialled into the caller's conference while the volunteer is still on the line; the
    volunteer then hangs up and wraps up."""
    contact = _handled_contact(actor, contact_id)
    if contact.status != ContactStatus.ACTIVE:
        raise Conflict(_l("only a contact in progress can be transferred"))
    counselor = db.scalar(select(Presence).join(User, User.id == Presence.user_id).where(
        Presence.centre_id == contact.centre_id, Presence.state == "available",
        User.role == Role.COUNSELOR, User.disabled_at.is_(None), User.id != actor.id)
        .order_by(Presence.since, Presence.user_id).limit(1)
        .with_for_update(skip_locked=True, of=Presence))
    if counselor is None:
        raise Conflict(_l("no on-duty counselor is free right now: stay with the caller and "
                          "ask your supervisor"))
    routing.move(counselor, "take_transfer")
    mine = routing.presence_of_id(actor.id)
    if mine is not None and mine.state == "busy":
        routing.move(mine, "finish")
    contact.handled_by_id, contact.transferred_at = counselor.user_id, utcnow()
    audit.record("contact.transfer", contact, changes=audit.diff(contact))
    emit_after_commit("contact.updated", {"contact_id": contact.id, "transferred": True},
                      room=user_room(counselor.user_id))
    if contact.channel == Channel.VOICE:
        from hotline.tasks import dial_into_call
        on_commit(lambda user_id=counselor.user_id: dial_into_call.delay(contact.id, user_id))
    return contact


def wrap_up(actor: User, contact_id: int, *, categories: list[str], summary: str,
            code: str) -> Contact:
    """Close a contact with its categories, summary and wrap-up code; the person handling it
    is then ready for the next. A volunteer no longer sees the caller's number."""
    contact = _handled_contact(actor, contact_id)
    if contact.status not in (ContactStatus.ACTIVE, ContactStatus.WRAP_UP):
        raise Conflict(_l("only a contact that was answered can be wrapped up"))
    errors = {}
    unknown = sorted(set(categories) - set(CATEGORIES))
    if not categories or unknown:
        errors["categories"] = (_l("choose among the categories offered") if unknown
                                else _l("choose at least one category"))
    if code not in WRAP_UP_CODES:
        errors["wrap_up_code"] = _l("choose one of the wrap-up codes offered")
    summary = (summary or "").strip()
    if not summary:
        errors["summary"] = _l("write a short summary")
    elif len(summary) > 4000:
        errors["summary"] = _l("a summary may be at most %(n)d characters", n=4000)
    if errors:
        raise InvalidInput(errors)
    was_open = contact.status == ContactStatus.ACTIVE
    now = utcnow()
    contact.categories, contact.summary, contact.wrap_up_code = sorted(set(categories)), \
        summary, code
    contact.status, contact.wrapped_up_at = ContactStatus.ENDED, now
    contact.ended_at = contact.ended_at or now
    presence = routing.presence_of_id(contact.handled_by_id)
    if presence is not None and presence.state in ("busy", "wrap_up"):
        if presence.state == "busy":
            routing.move(presence, "finish")
        routing.move(presence, "ready")
        presence.since = now
    audit.record("contact.wrap_up", contact, changes=audit.diff(contact))
    if was_open and contact.channel == Channel.WEB_CHAT:
        to_student("chat.ended", {"contact_id": contact.id}, contact)
    return contact


def on_duty(user: User) -> dict:
    """A volunteer's or counselor's duty panel: presence, the offer waiting for them, and the
    contacts they are on now (answered, not yet wrapped up)."""
    current = db.scalars(select(Contact).where(
        Contact.handled_by_id == user.id,
        Contact.status.in_((ContactStatus.ACTIVE, ContactStatus.WRAP_UP))).order_by(Contact.id))
    return {"presence": routing.presence_of(user), "offer": routing.my_offer(user),
            "current": list(current)}


def shown_caller_number(viewer: User, contact: Contact) -> str | None:
    """Volunteers stop seeing a caller's number once the contact is wrapped up or handed on."""
    number = contact.caller_number
    if not number or viewer.role != Role.VOLUNTEER:
        return number
    if contact.status == ContactStatus.ENDED or contact.handled_by_id != viewer.id:
        return number[:3] + "*" * max(len(number) - 7, 0) + number[-4:] if len(number) > 7 \
            else "*" * len(number)
    return number
