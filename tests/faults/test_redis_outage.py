"""Issue #6: Redis stops for 30 s while the hotline is taking calls and texts.

Webhooks keep answering with valid TwiML, quickly; nothing is lost: every call and text is
in the database and in the queue, the queue moves again once Redis is back, and the
consoles hear every event of their rooms (live, or caught up on by event id).

The outage is real: ``crisisline serve`` and ``crisisline worker`` (with its scheduler) run
as separate processes on PostgreSQL, against a ``redis-server`` of this test's own on a free
loopback port, which is stopped and started again on the same port (with nothing saved, as
a crashed Redis loses what it held). The shared Redis other tests use is never touched.
"""
from __future__ import annotations

import time
from contextlib import ExitStack

import requests
from sqlalchemy import select

from crisisline.accounts.models import HotlineNumber, User
from crisisline.config import DEMO_HOTLINE
from crisisline.realtime import user_room
from crisisline.realtime.console import rooms_for
from crisisline.realtime.models import ConsoleEvent
from hotline.models import Channel, Contact, ContactMessage, ContactStatus, Priority
from tests.conftest import needs_postgres
from tests.faults.clients import (Console, Twilio, badly_answered, browser_session, database,
                                  events_in, first_offer, newest_event_id, seeded_demo,
                                  unheard)
from tests.faults.processes import running_hotline

OUTAGE_SECONDS = 30  # as long as the issue says Redis is gone
WEBHOOK_SECONDS = 3.0  # the most one webhook may take, Redis or no Redis
RECOVERY_SECONDS = 60  # for the queue to move again once Redis is back
DELIVERY_SECONDS = 15  # for a console to hear what it missed, once the queue moved

pytestmark = needs_postgres


def test_a_30_second_redis_outage_loses_no_call_text_or_console_event(
        crisisline, cli_database_url, private_redis):
    token, twilio_token = seeded_demo(crisisline)

    with database(cli_database_url) as session, \
            running_hotline(crisisline, private_redis.url) as hotline, ExitStack() as cleanup:
        url, server_output = hotline.url, hotline.server
        with session() as db:
            supervisor = db.scalar(select(User).where(User.username == "demo_supervisor"))
            rooms = rooms_for(supervisor)
            centre_id = db.scalar(select(HotlineNumber.centre_id).where(
                HotlineNumber.number == DEMO_HOTLINE))
            volunteer_id = db.scalar(select(User.id).where(User.username == "demo_volunteer"))
            connected_at = newest_event_id(db)  # as a console page rendered now would be
        supervisor_console = Console(url, connected_at,
                                     cookie=browser_session(url, "demo_supervisor"))
        volunteer_console = Console(url, connected_at, token=token)
        for console in (supervisor_console, volunteer_console):
            console.connect()
            cleanup.callback(console.close)
            assert console.client.connected

        twilio = Twilio(url, twilio_token)
        # before: the hotline works, and the supervisor hears of its queue
        twilio.call()
        twilio.text()
        with session() as db:
            before = set(events_in(db, rooms, connected_at))
        assert before and supervisor_console.hears_all(before, seconds=10)

        # Redis stops; calls and texts keep coming, one or so a second, and a volunteer
        # signs in meanwhile
        private_redis.stop()
        outage_began = time.monotonic()
        sent_before = len(twilio.answers)
        in_danger = twilio.call(press_1=True)  # someone in danger now, first of all
        signed_in = None
        for second in range(1, OUTAGE_SECONDS):
            time.sleep(max(0.0, outage_began + second - time.monotonic()))
            if second % 2:
                twilio.text()
            else:
                twilio.call()
            if second == OUTAGE_SECONDS // 3:
                started = time.monotonic()
                signed_in = requests.post(f"{url}/api/presence/sign_in", timeout=15,
                                          headers={"Authorization": f"Bearer {token}"})
                signing_in_took = time.monotonic() - started
        time.sleep(max(0.0, outage_began + OUTAGE_SECONDS - time.monotonic()))
        outage_answers = twilio.answers[sent_before:]
        private_redis.start()  # back on the same port, empty

        assert badly_answered(twilio.answers, WEBHOOK_SECONDS) == [], \
            f"{len(outage_answers)} webhooks during the outage\n{server_output.tail()}"
        assert signed_in is not None and signed_in.status_code == 200, signed_in.text
        assert signing_in_took < WEBHOOK_SECONDS

        # nothing is lost: every call and text is stored, in the queue of the number dialled
        with session() as db:
            calls = {c.twilio_sid: c for c in db.scalars(
                select(Contact).where(Contact.twilio_sid.in_(twilio.calls)))}
            texts = {m.twilio_sid: m for m in db.scalars(
                select(ContactMessage).where(ContactMessage.twilio_sid.in_(twilio.texts)))}
            assert set(calls) == set(twilio.calls) and set(texts) == set(twilio.texts)
            text_contacts = db.scalars(select(Contact).where(
                Contact.id.in_([m.contact_id for m in texts.values()]))).all()
        assert len(text_contacts) == len(twilio.texts)  # each its own conversation
        assert {c.channel for c in calls.values()} == {Channel.VOICE}
        assert {c.channel for c in text_contacts} == {Channel.SMS}
        for contact in [*calls.values(), *text_contacts]:
            assert contact.centre_id == centre_id
            assert contact.status in (ContactStatus.QUEUED, ContactStatus.OFFERED), \
                (contact.channel, contact.status)
        assert calls[in_danger].priority == Priority.IMMINENT

        # the queue moves again: the volunteer is offered the caller in danger first
        offer = first_offer(session, volunteer_id, RECOVERY_SECONDS)
        assert offer is not None, \
            f"no offer within {RECOVERY_SECONDS} s of Redis returning\n{hotline.tails()}"
        assert offer.contact_id == calls[in_danger].id

        # ...and the consoles hear all of it: the volunteer its offer, the supervisor every
        # event of its rooms since it connected, the outage's and the worker's since
        with session() as db:
            [offered] = [event.id for event in db.scalars(select(ConsoleEvent).where(
                ConsoleEvent.name == "contact.offered",
                ConsoleEvent.room == user_room(volunteer_id)))
                if event.payload["offer_id"] == offer.id]
            supervisors = events_in(db, rooms, connected_at)
        assert volunteer_console.hears_all({offered}, DELIVERY_SECONDS), \
            f"the volunteer never heard of its offer\nserver:\n{server_output.tail()}"
        missing = unheard(supervisor_console, supervisors, DELIVERY_SECONDS)
        assert not missing, (f"the supervisor never heard {len(missing)} of {len(supervisors)} "
                             f"events: {missing[:10]}\nserver:\n{server_output.tail()}")
        since_the_outage = [e for e in supervisors.values() if e.id > max(before)]
        assert len(since_the_outage) >= OUTAGE_SECONDS  # each call and text changed the queue
        assert {"user_id": volunteer_id, "state": "offered"} in \
            [e.payload for e in since_the_outage if e.name == "agent.status"]  # the worker's

    result = crisisline("audit", "verify", check=False)
    assert result.returncode == 0, result.stderr
