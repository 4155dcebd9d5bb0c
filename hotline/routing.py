"""Routing: who is offered which contact, and the presence that decides it.

The most urgent waiting contact (imminent first, then the longest waiting) is offered to
the first free person who may take it: who speaks its language, volunteers for any
contact, on-duty counselors once it has waited the policy's escalation time, never someone
who declined or missed it in the last ``declined_offer_seconds`` (and others before them).
Someone who lets offers expire ``missed_offers_to_away`` times in a row is set away. Rows
are claimed with ``FOR NO KEY UPDATE SKIP LOCKED`` so several routers never reach for the
same contact or person; the partial unique indexes on ``offers`` guarantee it whatever
happens. Callers commit; side effects follow the commit.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from transitions import MachineError

from casework.policy import policy
from crisisline import audit
from crisisline.accounts.models import Role, User
from crisisline.database import db, on_commit, transaction_info, utcnow
from crisisline.errors import Conflict, Forbidden, Hidden, NotFound
from crisisline.i18n import PRESENCE_LABELS, label
from crisisline.realtime import emit_after_commit, queue_room, user_room
from hotline.models import Channel, Contact, ContactStatus, Offer, Presence, Priority
from state_machines import presence as presence_machine

ROUTED_ROLES = (Role.VOLUNTEER, Role.COUNSELOR)
PRESENCE_EVENTS = ("sign_in", "take_break", "end_break", "ready", "come_back", "sign_out")
WAITING = (ContactStatus.QUEUED, ContactStatus.OFFERED)
REFUSED = ("declined", "expired")
QUEUE_ORDER = (Contact.priority.desc(), Contact.queued_at, Contact.id)


def presence_of_id(user_id: int | None) -> Presence | None:
    return db.get(Presence, user_id) if user_id is not None else None


def presence_of(user: User) -> Presence:
    found = db.get(Presence, user.id)
    if found is None:
        if user.role not in ROUTED_ROLES:
            raise Forbidden(_l("only hotline volunteers and counselors take contacts"))
        if not user.centre_ids:  # (created before a centre was required)
            raise Forbidden(_l("you do not belong to a hotline centre yet: ask an "
                               "administrator to add you to one"))
        found = Presence(user_id=user.id, centre_id=min(user.centre_ids), state="offline",
                         since=utcnow())
        db.add(found)
    return found


def change_presence(user: User, event: str) -> Presence:
    """sign_in, take_break, end_break, ready, come_back (from away), sign_out (offers,
    transfers and wrap-ups move it otherwise)."""
    if event not in PRESENCE_EVENTS:
        raise NotFound(_l("no such change of duty status"))
    presence = presence_of(user)
    move(presence, event)
    if presence.state == "available":
        presence.since = utcnow()  # idle from now
    if event in ("sign_in", "come_back"):
        presence.missed_offers = 0  # at the desk: a new row of offers starts
    audit.record("presence.change", presence, changes={"state": {"new": presence.state}})
    return presence


def offer_next(centre_id: int, now: datetime | None = None) -> Offer | None:
    """Offer the most urgent waiting contact someone free may take to the best of them.

    Contacts are taken most urgent first (priority, then the longest waiting), each paired
    with the free people who may take it (:func:`may_take`): those who never refused it
    first, then the longest idle. A more urgent contact that is offered to someone else, or
    held by another router, keeps its best candidate back from less urgent ones: a free
    person waits for it (at most the offer's seconds) rather than take a routine contact.
    Contacts and people are claimed with ``FOR NO KEY UPDATE SKIP LOCKED`` on PostgreSQL.
    """
    now = now or utcnow()
    mine = db.scalars(select(Contact).where(Contact.centre_id == centre_id,
                                            Contact.status == ContactStatus.QUEUED)
                      .order_by(*QUEUE_ORDER).limit(20)
                      .with_for_update(skip_locked=True, key_share=True)).all()
    if not mine:
        return None
    free = db.execute(select(Presence, User.role).join(User, User.id == Presence.user_id).where(
        Presence.centre_id == centre_id, Presence.state == "available",
        User.role.in_(ROUTED_ROLES), User.disabled_at.is_(None))
        .order_by(Presence.since, Presence.user_id)).all()
    if not free:
        return None
    elsewhere = db.scalars(select(Contact).where(  # more urgent, but not ours to offer now
        Contact.centre_id == centre_id, Contact.status.in_(WAITING),
        Contact.priority > mine[-1].priority, Contact.id.not_in([c.id for c in mine]))
        .order_by(*QUEUE_ORDER).limit(20)).all()
    refused = _refusals([c.id for c in (*mine, *elsewhere)])
    held: list[tuple[int, int]] = []  # (priority, user id) kept back for a contact elsewhere
    for contact in sorted((*mine, *elsewhere), key=_urgency):
        kept = {user_id for priority, user_id in held if priority > contact.priority}
        candidates = sorted(
            (person for person, role in free if person.user_id not in kept
             and may_take(person, role, contact, refused.get((contact.id, person.user_id)), now)),
            key=lambda person: ((contact.id, person.user_id) in refused, person.since,
                                person.user_id))
        if contact not in mine:
            held.extend((contact.priority, person.user_id) for person in candidates[:1])
            continue
        for person in candidates:
            if _claim(person.user_id) is not None:  # not taken by another router meanwhile
                return _offer(contact, person, now)
    return None


def may_take(person: Presence, role: Role, contact: Contact, refused_at: datetime | None,
             now: datetime) -> bool:
    """Whether a free person may be offered a contact: they speak its language; a volunteer
    takes any contact of any risk, an on-duty counselor one that has waited the policy's
    escalation time; and they have not declined or missed it in the last
    ``declined_offer_seconds``."""
    rules = policy()
    if contact.language not in person.languages.split(","):
        return False
    if role != Role.VOLUNTEER and now - (contact.queued_at or now) < timedelta(
            seconds=rules.counselor_escalation_seconds):
        return False
    return refused_at is None or now - refused_at >= timedelta(
        seconds=rules.declined_offer_seconds)


def _urgency(contact: Contact) -> tuple:
    return -contact.priority, contact.queued_at or contact.created_at, contact.id


def _refusals(contact_ids: list[int]) -> dict[tuple[int, int], datetime]:
    """When each person last declined or let expire an offer of these contacts."""
    ended = func.max(func.coalesce(Offer.ended_at, Offer.expires_at))
    return {(contact_id, user_id): at for contact_id, user_id, at in db.execute(
        select(Offer.contact_id, Offer.user_id, ended).where(
            Offer.contact_id.in_(contact_ids), Offer.outcome.in_(REFUSED))
        .group_by(Offer.contact_id, Offer.user_id))}


def _claim(user_id: int) -> Presence | None:
    """The person's presence, locked, if they are still free and no other router holds it."""
    return db.scalar(select(Presence).where(Presence.user_id == user_id,
                                            Presence.state == "available")
                     .with_for_update(skip_locked=True, key_share=True)
                     .execution_options(populate_existing=True))


def _offer(contact: Contact, person: Presence, now: datetime) -> Offer:
    offer = Offer(contact_id=contact.id, user_id=person.user_id, offered_at=now,
                  expires_at=now + timedelta(seconds=policy().offer_seconds))
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
    offer.outcome, offer.ended_at = "accepted", utcnow()
    contact = db.get(Contact, offer.contact_id)
    contact.status, contact.answered_at = ContactStatus.ACTIVE, utcnow()
    contact.answered_by_id = contact.handled_by_id = user.id
    presence = presence_of(user)
    move(presence, "accept")
    presence.missed_offers = 0
    if contact.priority > min(Priority):  # someone free may have waited for this one
        route_after_commit(contact.centre_id)
    audit.record("contact.answered", contact, changes=audit.diff(contact))
    if contact.channel == Channel.VOICE:  # the caller leaves the queue for a conference
        from hotline.tasks import connect_call
        on_commit(lambda: connect_call.delay(contact.id))
    return contact


def decline(user: User, offer_id: int) -> None:
    _release(_own_pending_offer(user, offer_id), "declined", utcnow())


def expire_offers(now: datetime | None = None) -> int:
    """Offers not taken in time go back to the queue; the person goes to the back of it, or
    is set away after the policy's ``missed_offers_to_away`` in a row."""
    now = now or utcnow()
    stale = db.scalars(select(Offer).where(Offer.outcome == "pending", Offer.expires_at <= now)
                       .with_for_update(skip_locked=True)).all()
    for offer in stale:
        _release(offer, "expired", now)
    return len(stale)


def _own_pending_offer(user: User, offer_id: int) -> Offer:
    offer = db.scalar(select(Offer).where(Offer.id == offer_id).with_for_update())
    if offer is None:
        raise NotFound(_l("this offer does not exist"))
    if offer.user_id != user.id:  # someone else's: as if it did not exist, but audited
        raise Hidden(_l("this offer does not exist"), object_type="offer", object_id=offer_id)
    if offer.outcome != "pending":
        raise Conflict(_l("this offer was already answered or has expired"))
    return offer


def _release(offer: Offer, outcome: str, now: datetime) -> None:
    """A declined or expired offer: the contact waits again (not for this person, for a
    while: see :func:`may_take`); the person goes to the back of the line, or away."""
    offer.outcome, offer.ended_at = outcome, now
    contact = db.get(Contact, offer.contact_id)
    if contact.status == ContactStatus.OFFERED:
        contact.status = ContactStatus.QUEUED
    presence = db.get(Presence, offer.user_id)
    if presence is not None and presence.state == "offered":
        presence.missed_offers = presence.missed_offers + 1 if outcome == "expired" else 0
        if presence.missed_offers >= policy().missed_offers_to_away:
            move(presence, "step_away")  # not at the desk: offers go to others meanwhile
            audit.record("presence.away", presence, actor="system", changes={
                "state": {"new": presence.state},
                "missed_offers": {"new": presence.missed_offers}})
        else:
            move(presence, "release")
        presence.since = now  # idle (or away) from now: the next person is offered it first
    route_after_commit(contact.centre_id)  # whoever waited for it, or is free now
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
