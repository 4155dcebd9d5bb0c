"""Routing: who is offered which contact, and the presence that decides it.

The next contact (imminent first, then the longest waiting) is offered to the longest-idle
available person who speaks its language: volunteers, and on-duty counselors once it has
waited the policy's escalation time. Rows are claimed with ``FOR UPDATE SKIP LOCKED`` so
several routers never reach for the same contact or person; the partial unique indexes on
``offers`` guarantee it whatever happens. Callers commit; side effects follow the commit.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from transitions import MachineError

from casework.policy import policy
from crisisline import audit
from crisisline.accounts.models import Role, User
from crisisline.database import db, on_commit, transaction_info, utcnow
from crisisline.errors import Conflict, Forbidden, NotFound
from crisisline.i18n import PRESENCE_LABELS, label
from crisisline.realtime import emit_after_commit, queue_room, user_room
from hotline.models import Channel, Contact, ContactStatus, Offer, Presence
from state_machines import presence as presence_machine

ROUTED_ROLES = (Role.VOLUNTEER, Role.COUNSELOR)


def presence_of_id(user_id: int | None) -> Presence | None:
    return db.get(Presence, user_id) if user_id is not None else None


def presence_of(user: User) -> Presence:
    found = db.get(Presence, user.id)
    if found is None:
        if user.role not in ROUTED_ROLES or not user.centre_ids:
            raise Forbidden(_l("only hotline volunteers and counselors take contacts"))
        found = Presence(user_id=user.id, centre_id=min(user.centre_ids), state="offline",
                         since=utcnow())
        db.add(found)
    return found


def change_presence(user: User, event: str) -> Presence:
    """sign_in, take_break, end_break, ready, sign_out (offers, transfers and wrap-ups move
    it otherwise)."""
    if event not in ("sign_in", "take_break", "end_break", "ready", "sign_out"):
        raise NotFound(_l("no such change of duty status"))
    presence = presence_of(user)
    move(presence, event)
    if presence.state == "available":
        presence.since = utcnow()  # idle from now
    audit.record("presence.change", presence, changes={"state": {"new": presence.state}})
    return presence


def offer_next(centre_id: int, now: datetime | None = None) -> Offer | None:
    """Offer the next waiting contact to the longest-idle eligible person, if there is one."""
    now = now or utcnow()
    rules = policy()
    contacts = db.scalars(select(Contact).where(Contact.centre_id == centre_id,
                                                Contact.status == ContactStatus.QUEUED)
                          .order_by(Contact.priority.desc(), Contact.queued_at, Contact.id)
                          .limit(20).with_for_update(skip_locked=True)).all()
    for contact in contacts:
        roles = [Role.VOLUNTEER]
        if now - contact.queued_at >= timedelta(seconds=rules.counselor_escalation_seconds):
            roles.append(Role.COUNSELOR)
        person = db.scalar(select(Presence).join(User, User.id == Presence.user_id).where(
            Presence.centre_id == centre_id, Presence.state == "available",
            User.role.in_(roles), User.disabled_at.is_(None),
            Presence.languages.contains(contact.language))
            .order_by(Presence.since, Presence.user_id).limit(1)
            .with_for_update(skip_locked=True, of=Presence))
        if person is None:
            continue  # no one free for this one (its language, or not yet counselors')
        offer = Offer(contact_id=contact.id, user_id=person.user_id, offered_at=now,
                      expires_at=now + timedelta(seconds=rules.offer_seconds))
        db.add(offer)
        contact.status = ContactStatus.OFFERED
        contact.offered_at = contact.offered_at or now
        move(person, "offer")
        db.flush()
        emit_after_commit("contact.offered", {"offer_id": offer.id, "contact_id": contact.id,
                                              "channel": contact.channel.value,
                                              "expires_at": offer.expires_at.isoformat()},
                          room=user_room(person.user_id))
        return offer
    return None


def route_after_commit(centre_id: int) -> None:
    """Offer the centre's waiting contacts as soon as this transaction commits: a contact
    joined the queue, or someone became free to take one (once per centre and commit)."""
    centres = transaction_info("route_after_commit")
    if centre_id not in centres:
        centres.append(centre_id)
        from hotline.tasks import route_centre
        on_commit(lambda: route_centre.delay(centre_id))


def route(centre_id: int, now: datetime | None = None) -> int:
    """Offer waiting contacts for as long as someone is free; how many were offered."""
    offered = 0
    while offer_next(centre_id, now) is not None:
        offered += 1
    return offered


def accept(user: User, offer_id: int) -> Contact:
    offer = _own_pending_offer(user, offer_id)
    if offer.expires_at <= utcnow():
        raise Conflict(_l("this offer has expired and gone to someone else"))
    offer.outcome = "accepted"
    contact = db.get(Contact, offer.contact_id)
    contact.status, contact.answered_at = ContactStatus.ACTIVE, utcnow()
    contact.answered_by_id = contact.handled_by_id = user.id
    move(presence_of(user), "accept")
    audit.record("contact.answered", contact, changes=audit.diff(contact))
    if contact.channel == Channel.VOICE:  # the caller leaves the queue for a conference
        from hotline.tasks import connect_call
        on_commit(lambda: connect_call.delay(contact.id))
    return contact


def decline(user: User, offer_id: int) -> None:
    _release(_own_pending_offer(user, offer_id), "declined", utcnow())


def expire_offers(now: datetime | None = None) -> int:
    """Offers not taken in time go back to the queue; the person goes to the back of it."""
    now = now or utcnow()
    stale = db.scalars(select(Offer).where(Offer.outcome == "pending", Offer.expires_at <= now)
                       .with_for_update(skip_locked=True)).all()
    for offer in stale:
        _release(offer, "expired", now)
    return len(stale)


def _own_pending_offer(user: User, offer_id: int) -> Offer:
    offer = db.scalar(select(Offer).where(Offer.id == offer_id).with_for_update())
    if offer is None or offer.user_id != user.id:
        raise NotFound(_l("this offer does not exist"))
    if offer.outcome != "pending":
        raise Conflict(_l("this offer was already answered or has expired"))
    return offer


def _release(offer: Offer, outcome: str, now: datetime) -> None:
    offer.outcome = outcome
    contact = db.get(Contact, offer.contact_id)
    if contact.status == ContactStatus.OFFERED:
        contact.status = ContactStatus.QUEUED
    presence = db.get(Presence, offer.user_id)
    if presence is not None and presence.state == "offered":
        move(presence, "release")
        presence.since = now  # idle from now: the next person is offered it first
    db.flush()


def move(presence: Presence, event: str) -> None:
    presence_machine.bind(presence)
    try:
        presence.trigger(event)
    except MachineError:
        raise Conflict(_l("this is not possible while you are “%(state)s”",
                          state=label(PRESENCE_LABELS, presence.state))) from None
    if presence.state == "available":
        route_after_commit(presence.centre_id)
    emit_after_commit("agent.status", {"user_id": presence.user_id, "state": presence.state},
                      room=queue_room(presence.centre_id))


def my_offer(user: User) -> Offer | None:
    """The offer waiting for ``user``, if any (there is never more than one)."""
    return db.scalar(select(Offer).where(Offer.user_id == user.id, Offer.outcome == "pending"))
