"""Routing: the longest-idle person is offered the next contact; offers expire and move on."""
from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crisisline.accounts.models import Membership, Organisation, OrgKind, Role, User
from crisisline.database import utcnow
from crisisline.errors import Conflict, Hidden
from hotline import routing
from hotline.models import Channel, Contact, ContactStatus, Offer, Presence, Priority
from tests.conftest import app_context, needs_postgres


def make_centre(db, prefix: str, volunteers: int, counselors: int = 0):
    centre = Organisation(code=f"{prefix}-C", name=prefix, kind=OrgKind.HOTLINE_CENTRE)
    db.add(centre)
    db.flush()
    people = []
    for n in range(volunteers + counselors):
        role = Role.VOLUNTEER if n < volunteers else Role.COUNSELOR
        user = User(username=f"{prefix}_{role.value}_{n}", display_name=str(n), role=role,
                    password_hash="not-a-login",
                    memberships=[Membership(organisation=centre)])
        db.add(user)
        people.append(user)
    db.flush()
    return centre, people


def sign_in(db, people, start=None, languages="zh"):
    start = start or utcnow() - timedelta(minutes=10)
    for n, user in enumerate(people):
        routing.change_presence(user, "sign_in")
        presence = db.get(Presence, user.id)
        presence.since, presence.languages = start + timedelta(seconds=n), languages


def queue(db, centre, count, *, waited=timedelta(0), language="zh", priority=Priority.NORMAL):
    contacts = [Contact(centre_id=centre.id, channel=Channel.SMS, status=ContactStatus.QUEUED,
                        queued_at=utcnow() - waited + timedelta(milliseconds=n),
                        language=language, priority=priority) for n in range(count)]
    db.add_all(contacts)
    db.flush()
    return contacts


def test_the_longest_idle_volunteer_is_offered_the_next_contact(ctx):
    with ctx() as db:
        centre, people = make_centre(db, "r1", volunteers=3)
        sign_in(db, people)  # people[0] has been idle longest
        [contact] = queue(db, centre, 1)
        offer = routing.offer_next(centre.id)
        assert (offer.user_id, offer.contact_id) == (people[0].id, contact.id)
        assert contact.status == ContactStatus.OFFERED
        assert db.get(Presence, people[0].id).state == "offered"


def test_an_offer_not_taken_in_time_goes_to_the_next_person(ctx):
    with ctx() as db:
        centre, people = make_centre(db, "r2", volunteers=2)
        sign_in(db, people)
        [contact] = queue(db, centre, 1)
        first = routing.offer_next(centre.id)
        assert routing.expire_offers(now=first.expires_at - timedelta(seconds=1)) == 0
        assert routing.expire_offers(now=first.expires_at) == 1
        second = routing.offer_next(centre.id, now=first.expires_at)
        assert first.outcome == "expired" and second.user_id == people[1].id
        assert second.contact_id == contact.id


def test_counselors_are_offered_a_contact_only_after_it_waited_thirty_seconds(ctx):
    with ctx() as db:
        centre, people = make_centre(db, "r3", volunteers=0, counselors=1)
        sign_in(db, people)
        queue(db, centre, 1, waited=timedelta(seconds=10))
        assert routing.offer_next(centre.id) is None
        later = utcnow() + timedelta(seconds=21)
        assert routing.offer_next(centre.id, now=later).user_id == people[0].id


def test_an_english_contact_goes_only_to_someone_who_speaks_english(ctx):
    with ctx() as db:
        centre, people = make_centre(db, "r4", volunteers=2)
        sign_in(db, people[:1])
        sign_in(db, people[1:], languages="zh,en")
        queue(db, centre, 1, language="en")
        assert routing.offer_next(centre.id).user_id == people[1].id


def test_imminent_contacts_are_offered_before_those_who_waited_longer(ctx):
    with ctx() as db:
        centre, people = make_centre(db, "r5", volunteers=1)
        sign_in(db, people)
        queue(db, centre, 1, waited=timedelta(minutes=5))
        [urgent] = queue(db, centre, 1, priority=Priority.IMMINENT)
        assert routing.offer_next(centre.id).contact_id == urgent.id


def test_accepting_an_offer_makes_the_contact_theirs(ctx):
    with ctx() as db:
        centre, people = make_centre(db, "r6", volunteers=1)
        sign_in(db, people)
        [contact] = queue(db, centre, 1)
        offer = routing.offer_next(centre.id)
        routing.accept(people[0], offer.id)
        assert (contact.status, contact.handled_by_id) == (ContactStatus.ACTIVE, people[0].id)
        assert db.get(Presence, people[0].id).state == "busy"
        with pytest.raises(Conflict):
            routing.accept(people[0], offer.id)


def test_an_expired_offer_cannot_be_accepted(ctx):
    with ctx() as db:
        centre, people = make_centre(db, "r7", volunteers=1)
        sign_in(db, people)
        queue(db, centre, 1)
        offer = routing.offer_next(centre.id)
        offer.expires_at = utcnow() - timedelta(seconds=1)
        with pytest.raises(Conflict):
            routing.accept(people[0], offer.id)


def test_someone_elses_offer_cannot_be_taken_or_declined_and_the_try_is_hidden(ctx):
    with ctx() as db:
        centre, people = make_centre(db, "r9", volunteers=2)
        sign_in(db, people[:1])
        [contact] = queue(db, centre, 1)
        offer = routing.offer_next(centre.id)
        for answer in (routing.accept, routing.decline):
            with pytest.raises(Hidden) as refused:
                answer(people[1], offer.id)
            assert (refused.value.object_type, refused.value.object_id) == ("offer", offer.id)
        assert offer.outcome == "pending" and contact.status == ContactStatus.OFFERED


def test_presence_moves_only_as_declared(ctx):
    with ctx() as db:
        _, [person] = make_centre(db, "r8", volunteers=1)
        with pytest.raises(Conflict):
            routing.change_presence(person, "ready")  # offline people cannot be "ready"
        assert routing.change_presence(person, "sign_in").state == "available"
        assert routing.change_presence(person, "take_break").state == "break"


@needs_postgres
@pytest.mark.commits
def test_many_routers_at_once_never_double_offer_or_lose_a_contact(app):
    prefix = f"race{uuid.uuid4().hex[:6]}"
    with app_context(app) as db:
        centre, people = make_centre(db, prefix, volunteers=40)
        sign_in(db, people)
        contacts = queue(db, centre, 100)
        db.commit()
        centre_id, contact_ids = centre.id, {c.id for c in contacts}
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def router():
        try:
            start.wait()
            for _ in range(10):
                with app_context(app) as db:
                    routing.route(centre_id)
                    db.commit()
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=router) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with app_context(app) as db:
        offers = db.scalars(select(Offer).where(Offer.contact_id.in_(contact_ids))).all()
        statuses = dict(db.execute(select(Contact.status, func.count()).where(
            Contact.id.in_(contact_ids)).group_by(Contact.status)).all())
    assert len(offers) == 40  # everyone free got exactly one
    assert len({offer.contact_id for offer in offers}) == 40  # no contact twice
    assert len({offer.user_id for offer in offers}) == 40  # no person twice
    assert statuses == {ContactStatus.OFFERED: 40, ContactStatus.QUEUED: 60}  # none lost


def test_a_volunteer_back_from_a_break_is_offered_the_waiting_contact_at_once(ctx):
    with ctx() as db:
        centre, [volunteer] = make_centre(db, "r_ready", volunteers=1)
        sign_in(db, [volunteer])
        routing.change_presence(volunteer, "take_break")
        [contact] = queue(db, centre, 1)
        db.commit()
        assert routing.my_offer(volunteer) is None  # nobody free: the contact waits
        routing.change_presence(volunteer, "end_break")
        db.commit()  # routed after the commit, not on the next 2 s tick
    with ctx() as db:
        offer = routing.my_offer(db.get(User, volunteer.id))
        assert offer is not None and offer.contact_id == contact.id
        assert db.get(Contact, contact.id).status == ContactStatus.OFFERED
