"""Redis freezes while the hotline is taking calls, texts, chats and sign-ins.

A frozen Redis (a hung process, a half-open connection, a network that drops packets)
is worse than a stopped one: connections are accepted, commands are sent, and no answer
ever comes, so a client without socket timeouts waits forever. Here ``redis-server`` is
SIGSTOPped for a while: every signed Twilio webhook must still answer 200 with its TwiML
in bounded time, so must a student's first chat message and a later one (both rate
limited through Redis), a volunteer signing in to take contacts, and a sign-in through the
login form (rate limited too); then, Redis answering again, nothing was lost: every call,
text and chat is stored and in the queue, the queue moves, the supervisor's console hears
every event of its rooms, and the audit chain verifies.

As in ``test_redis_outage``: ``crisisline serve`` and ``crisisline worker`` run as separate
processes on PostgreSQL, against a ``redis-server`` of this test's own, never the shared
one; it is thawed (SIGCONT) whatever happens, and stopped at the end.
"""
from __future__ import annotations

import re
import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Callable

import requests
from sqlalchemy import func, select

from crisisline.accounts.models import HotlineNumber, User
from crisisline.config import DEMO_HOTLINE
from crisisline.realtime import user_room
from crisisline.realtime.console import rooms_for
from crisisline.realtime.models import ConsoleEvent
from hotline.models import Channel, Contact, ContactMessage, ContactStatus, Priority
from tests.conftest import needs_postgres
from tests.faults.clients import (DEMO_PASSWORD, Console, Twilio, badly_answered,
                                  browser_session, database, events_in, login_form,
                                  first_offer, newest_event_id, seeded_demo, unheard)
from tests.faults.processes import running_hotline

FROZEN_SECONDS = 15  # how long Redis hangs
WEBHOOK_SECONDS = 5.0  # the most one request may take while it hangs (busy 2-core machine)
RECOVERY_SECONDS = 60  # for the queue to move again once Redis answers
DELIVERY_SECONDS = 15  # for a console to hear what it missed, once the queue moved
REQUEST_TIMEOUT = 10  # a request not answered by then hung (and is recorded as such)
WAITING = (ContactStatus.QUEUED, ContactStatus.OFFERED)

pytestmark = needs_postgres


@dataclass
class Outcome:
    """What one request came to, and how long it took."""
    seconds: float
    value: Any = None
    error: str | None = None

    def within(self, seconds: float) -> bool:
        return self.error is None and self.seconds < seconds


def timed(action: Callable[[], Any]) -> Outcome:
    started = time.monotonic()
    try:
        value = action()
    except Exception as error:  # noqa: BLE001  (a hung or refused request, recorded)
        return Outcome(time.monotonic() - started, error=f"{type(error).__name__}: {error}")
    return Outcome(time.monotonic() - started, value)


def say_in_chat(url: str, cookie: str, body: str) -> dict:
    """A later message from a student's chat page, connected to /chat with its browser's
    session cookie; the acknowledgement says whether it was kept."""
    import socketio
    sock = socketio.Client(reconnection=False)
    try:
        sock.connect(url, namespaces=["/chat"], transports=["polling"],
                     headers={"Cookie": f"session={cookie}", "Origin": url},
                     wait_timeout=REQUEST_TIMEOUT)
        return sock.call("message", {"body": body}, namespace="/chat",
                         timeout=REQUEST_TIMEOUT)
    finally:
        sock.disconnect()


def test_a_frozen_redis_hangs_no_webhook_chat_or_sign_in_and_loses_nothing(
        crisisline, cli_database_url, private_redis):
    token, twilio_token = seeded_demo(crisisline)

    with database(cli_database_url) as session, \
            running_hotline(crisisline, private_redis.url) as hotline, ExitStack() as cleanup:
        url = hotline.url
        with session() as db:
            supervisor = db.scalar(select(User).where(User.username == "demo_supervisor"))
            rooms = rooms_for(supervisor)
            centre_id = db.scalar(select(HotlineNumber.centre_id).where(
                HotlineNumber.number == DEMO_HOTLINE))
            volunteer_id = db.scalar(select(User.id).where(User.username == "demo_volunteer"))
            connected_at = newest_event_id(db)
            contacts_before = db.scalar(select(func.max(Contact.id)))
        supervisor_console = Console(url, connected_at,
                                     cookie=browser_session(url, "demo_supervisor"))
        supervisor_console.connect()
        cleanup.callback(supervisor_console.close)

        # before: the hotline works, so every connection to Redis is open and in use when
        # it freezes (the limiter's, Celery's, Socket.IO's)
        twilio = Twilio(url, twilio_token)
        twilio.call()
        twilio.text()
        student = requests.Session()
        chat_page = student.get(f"{url}/chat", timeout=10).text
        chat_csrf = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"',
                              chat_page).group(1)
        signing_in = requests.Session()
        login_csrf = login_form(signing_in, url)
        with session() as db:
            before = set(events_in(db, rooms, connected_at))
        assert before and supervisor_console.hears_all(before, seconds=10)

        with private_redis.frozen():
            frozen_at = time.monotonic()
            sent_before = len(twilio.answers)
            in_danger = twilio.call(press_1=True)
            first_chat = timed(lambda: student.post(
                f"{url}/chat", timeout=REQUEST_TIMEOUT, allow_redirects=False,
                data={"csrf_token": chat_csrf, "body": "我想找人聊聊", "language": "zh_Hans_CN"}))
            later_chat = timed(lambda: say_in_chat(url, student.cookies.get("session", ""),
                                                   "还在吗？"))
            login = timed(lambda: signing_in.post(
                f"{url}/login", timeout=REQUEST_TIMEOUT, allow_redirects=False,
                data={"csrf_token": login_csrf, "username": "demo_counselor",
                      "password": DEMO_PASSWORD}))
            presence = timed(lambda: requests.post(
                f"{url}/api/presence/sign_in", timeout=REQUEST_TIMEOUT,
                headers={"Authorization": f"Bearer {token}"}))
            paced_from, second = time.monotonic(), 0  # then a call or a text a second,
            while time.monotonic() + WEBHOOK_SECONDS < frozen_at + FROZEN_SECONDS:  # all fit
                second += 1
                if second % 2:
                    twilio.text()
                else:
                    twilio.call()
                time.sleep(max(0.0, paced_from + second - time.monotonic()))
            time.sleep(max(0.0, frozen_at + FROZEN_SECONDS - time.monotonic()))
            frozen_answers = twilio.answers[sent_before:]

        assert badly_answered(twilio.answers, WEBHOOK_SECONDS) == [], \
            f"{len(frozen_answers)} webhooks while Redis was frozen\n{hotline.tails()}"
        assert first_chat.within(WEBHOOK_SECONDS), first_chat
        assert first_chat.value.status_code == 302, first_chat.value.text[:300]
        assert first_chat.value.headers["Location"].endswith("/chat")
        assert later_chat.within(WEBHOOK_SECONDS) and later_chat.value.get("ok") is True, \
            later_chat
        assert login.within(WEBHOOK_SECONDS), login
        assert login.value.status_code == 302, login.value.text[:300]
        assert "/login" not in login.value.headers["Location"]  # signed in, not sent back
        assert presence.within(WEBHOOK_SECONDS), presence
        assert presence.value.status_code == 200, presence.value.text[:300]
        assert len(frozen_answers) >= 3, "too few webhooks while Redis was frozen"

        # nothing is lost: every call, text and chat message is stored, in the queue
        with session() as db:
            calls = {c.twilio_sid: c for c in db.scalars(
                select(Contact).where(Contact.twilio_sid.in_(twilio.calls)))}
            texts = {m.twilio_sid: m for m in db.scalars(
                select(ContactMessage).where(ContactMessage.twilio_sid.in_(twilio.texts)))}
            assert set(calls) == set(twilio.calls) and set(texts) == set(twilio.texts)
            text_contacts = db.scalars(select(Contact).where(
                Contact.id.in_([m.contact_id for m in texts.values()]))).all()
            [chat] = db.scalars(select(Contact).where(Contact.channel == Channel.WEB_CHAT,
                                                      Contact.id > contacts_before))
            chat_messages = db.scalars(select(ContactMessage.body).where(
                ContactMessage.contact_id == chat.id).order_by(ContactMessage.id)).all()
        assert len(text_contacts) == len(twilio.texts)
        assert {c.channel for c in calls.values()} == {Channel.VOICE}
        assert {c.channel for c in text_contacts} == {Channel.SMS}
        assert chat_messages == ["我想找人聊聊", "还在吗？"]
        for contact in [*calls.values(), *text_contacts, chat]:
            assert contact.centre_id == centre_id
            assert contact.status in WAITING, (contact.channel, contact.status)
        assert calls[in_danger].priority == Priority.IMMINENT

        # the queue moves again: the volunteer is offered the caller in danger first
        offer = first_offer(session, volunteer_id, RECOVERY_SECONDS)
        assert offer is not None, \
            f"no offer within {RECOVERY_SECONDS} s of Redis thawing\n{hotline.tails()}"
        assert offer.contact_id == calls[in_danger].id

        # ...and the supervisor's console hears every event of its rooms, those whose
        # publish to the frozen Redis was given up on too
        with session() as db:
            assert db.scalar(select(ConsoleEvent.id).where(
                ConsoleEvent.name == "contact.offered",
                ConsoleEvent.room == user_room(volunteer_id))) is not None
            supervisors = events_in(db, rooms, connected_at)
        missing = unheard(supervisor_console, supervisors, DELIVERY_SECONDS)
        assert not missing, (f"the supervisor never heard {len(missing)} of {len(supervisors)} "
                             f"events: {missing[:10]}\n{hotline.tails()}")

    result = crisisline("audit", "verify", check=False)
    assert result.returncode == 0, result.stderr
