"""Fair routing, through the consoles and Twilio's webhooks: the most urgent contact reaches
the first free person; a declined or missed contact goes to someone else; people who let
offers expire are set away and the supervisors see it; the contact page explains the risk.

Time moves by back-dating the rows the clock is read from (an offer's expiry, a refusal, a
contact's place in the queue) and running the scheduler's tick, as beat runs it.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from crisisline.audit.models import AuditEntry
from crisisline.database import utcnow
from crisisline.realtime import queue_room
from crisisline.realtime.models import ConsoleEvent
from hotline.models import Contact, ContactStatus, Offer, Presence
from hotline.tasks import keep_the_queue_moving
from tests.conftest import login
from tests.hotline.test_twilio_webhooks import ACCOUNT, TOKEN, call_in, signed, sms_params
from tests.world import PASSWORD

FAREWELL = "遗书已经写好了，今晚就结束吧"  # the demo's text
CONSOLE = {"volunteer": "/console/volunteer", "other_volunteer": "/console/volunteer",
           "counselor": "/console/counselor", "supervisor": "/console/supervisor"}


@pytest.fixture(autouse=True)
def twilio_configured(app, monkeypatch, world):
    monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setitem(app.config, "TWILIO_ACCOUNT_SID", ACCOUNT)


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)


class Person:
    """One member of staff at their console, in a browser of their own."""

    def __init__(self, app, world, key: str):
        self.key, self.user_id = key, world.users[key].id
        self.browser = app.test_client()
        login(self.browser, f"t_{key}", PASSWORD)

    def console(self) -> str:
        return self.browser.get(CONSOLE[self.key]).get_data(as_text=True)

    def presence(self, event: str):
        return self.browser.post(f"/console/presence/{event}",
                                 data={"csrf_token": csrf(self.console())})

    def offer_id(self) -> int | None:
        found = re.search(r"/console/offers/(\d+)/accept", self.console())
        return int(found.group(1)) if found else None

    def answer(self, answer: str):
        offer_id = self.offer_id()
        assert offer_id is not None, f"{self.key} has no offer to {answer}"
        return self.browser.post(f"/console/offers/{offer_id}/{answer}",
                                 data={"csrf_token": csrf(self.console())})


def text_in(app, sid: str, body: str, sender: str) -> None:
    response = signed(app, app.test_client(), "/twilio/sms/incoming", sms_params(sid, body, sender))
    assert response.status_code == 200


def contact_of(ctx, sender: str) -> Contact:
    with ctx() as db:
        return db.scalar(select(Contact).where(Contact.caller_number == sender))


def pending_offer(ctx, person: Person) -> Offer | None:
    with ctx() as db:
        return db.scalar(select(Offer).where(Offer.user_id == person.user_id,
                                             Offer.outcome == "pending"))


def state_of(ctx, person: Person) -> str:
    with ctx() as db:
        return db.get(Presence, person.user_id).state


def staff(world) -> list[int]:
    """The world's people (other tests' committed centres keep offers of their own)."""
    return [user.id for user in world.users.values()]


def offers_expire(ctx, world) -> None:
    """Every pending offer of the world's centre runs out of time, and the scheduler's tick
    notices."""
    with ctx() as db:
        db.execute(update(Offer).where(Offer.outcome == "pending",
                                       Offer.user_id.in_(staff(world)))
                   .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.commit()
    tick(ctx)


def refusals_age(ctx, world, seconds: int) -> None:
    """The world's declined and missed offers so far happened ``seconds`` ago."""
    with ctx() as db:
        db.execute(update(Offer).where(Offer.outcome.in_(("declined", "expired")),
                                       Offer.user_id.in_(staff(world)))
                   .values(ended_at=utcnow() - timedelta(seconds=seconds)))
        db.commit()


def tick(ctx) -> dict:
    with ctx():
        return keep_the_queue_moving()


def test_a_declined_contact_goes_to_someone_else_first(app, ctx, world):
    first, second = Person(app, world, "volunteer"), Person(app, world, "other_volunteer")
    first.presence("sign_in")
    second.presence("sign_in")
    second.presence("take_break")
    text_in(app, "SM-d1", "我想找人聊聊", "+8613900000001")
    contact_id = contact_of(ctx, "+8613900000001").id
    assert pending_offer(ctx, first).contact_id == contact_id

    first.answer("decline")  # the only free person: it does not come straight back
    tick(ctx)
    assert pending_offer(ctx, first) is None
    with ctx() as db:
        assert db.get(Contact, contact_id).status == ContactStatus.QUEUED
        assert len(db.scalars(select(Offer).where(Offer.contact_id == contact_id)).all()) == 1

    refusals_age(ctx, world, 121)  # past declined_offer_seconds: it may go back to them, but ...
    second.presence("end_break")  # ... someone else who has not declined it is free: theirs
    assert pending_offer(ctx, second).contact_id == contact_id
    assert pending_offer(ctx, first) is None

    second.answer("decline")  # declined just now by them; long ago by the first volunteer
    assert pending_offer(ctx, second) is None
    assert pending_offer(ctx, first).contact_id == contact_id


def test_two_missed_offers_set_the_person_away_and_tell_supervisors(app, ctx, world):
    volunteer, supervisor = Person(app, world, "volunteer"), Person(app, world, "supervisor")
    volunteer.presence("sign_in")
    text_in(app, "SM-m1", "我想找人聊聊", "+8613900000011")
    first = contact_of(ctx, "+8613900000011").id
    assert pending_offer(ctx, volunteer).contact_id == first

    offers_expire(ctx, world)  # the first miss: still available, but not for the same contact
    assert state_of(ctx, volunteer) == "available"
    assert pending_offer(ctx, volunteer) is None
    text_in(app, "SM-m2", "我想找人聊聊", "+8613900000012")
    assert pending_offer(ctx, volunteer).contact_id == contact_of(ctx, "+8613900000012").id

    offers_expire(ctx, world)  # the second miss in a row
    assert state_of(ctx, volunteer) == "away"
    text_in(app, "SM-m3", "我想找人聊聊", "+8613900000013")
    assert pending_offer(ctx, volunteer) is None  # nothing is offered to someone away
    with ctx() as db:
        [entry] = db.scalars(select(AuditEntry).where(
            AuditEntry.action == "presence.away",
            AuditEntry.object_id == str(volunteer.user_id))).all()
        assert entry.changes["missed_offers"] == {"new": 2}
        events = db.scalars(select(ConsoleEvent).where(
            ConsoleEvent.name == "agent.status",
            ConsoleEvent.room == queue_room(world.orgs["A"].id))).all()
        assert {"user_id": volunteer.user_id, "state": "away"} in [
            {key: e.payload[key] for key in ("user_id", "state")} for e in events]

    console = volunteer.console()  # refreshed on agent.status: told why, and how to return
    assert "暂离" in console and "我回来了" in console and "未接听" in console
    board = supervisor.browser.get("/console/supervisor/wallboard").get_data(as_text=True)
    assert f'data-away-user="{volunteer.user_id}"' in board and "起暂离" in board
    assert f'data-away-user="{volunteer.user_id}"' in supervisor.console()

    volunteer.presence("come_back")  # offered at once what came in meanwhile
    assert state_of(ctx, volunteer) == "offered"
    assert pending_offer(ctx, volunteer).contact_id == contact_of(ctx, "+8613900000013").id
    board = supervisor.browser.get("/console/supervisor/wallboard").get_data(as_text=True)
    assert "data-away-user" not in board


def test_a_free_volunteer_is_offered_the_high_risk_text_before_routine_calls(app, ctx, world):
    """The demo: the farewell text was offered again and again to a counselor away from the
    desk while the free volunteer was offered routine calls."""
    volunteer, counselor = Person(app, world, "volunteer"), Person(app, world, "counselor")
    volunteer.presence("sign_in")
    volunteer.presence("take_break")  # busy elsewhere when the text arrives
    counselor.presence("sign_in")
    text_in(app, "SM-farewell", FAREWELL, "+8613900000021")
    urgent = contact_of(ctx, "+8613900000021")
    assert urgent.risk_level.value == "high" and urgent.status == ContactStatus.QUEUED
    with ctx() as db:  # it has waited past the counselors' escalation time
        db.execute(update(Contact).where(Contact.id == urgent.id)
                   .values(queued_at=utcnow() - timedelta(seconds=31)))
        db.commit()
    tick(ctx)
    assert pending_offer(ctx, counselor).contact_id == urgent.id  # not at the desk
    twilio = app.test_client()
    for n in range(2):
        call_in(app, twilio, f"CA-routine-{n}", caller=f"+861390000003{n}")

    volunteer.presence("end_break")  # free: waits for the urgent text, not a routine call
    assert pending_offer(ctx, volunteer) is None
    offers_expire(ctx, world)
    assert pending_offer(ctx, volunteer).contact_id == urgent.id
    offer = pending_offer(ctx, counselor)
    assert offer is None or offer.contact_id != urgent.id
    answered = volunteer.answer("accept")
    assert answered.status_code == 302 and f"/contacts/{urgent.id}" in answered.headers["Location"]


def test_a_free_volunteer_takes_the_high_risk_text_ahead_of_calls_that_waited_longer(app, ctx,
                                                                                      world):
    volunteer = Person(app, world, "volunteer")
    twilio = app.test_client()
    for n in range(2):
        call_in(app, twilio, f"CA-early-{n}", caller=f"+861390000004{n}")
    text_in(app, "SM-later", FAREWELL, "+8613900000049")
    volunteer.presence("sign_in")
    assert pending_offer(ctx, volunteer).contact_id == contact_of(ctx, "+8613900000049").id


def test_contact_page_shows_matched_words_and_screen_result(app, ctx, world):
    volunteer = Person(app, world, "volunteer")
    volunteer.presence("sign_in")
    text_in(app, "SM-page", FAREWELL, "+8613900000051")
    contact_id = contact_of(ctx, "+8613900000051").id
    volunteer.answer("accept")
    page = volunteer.browser.get(f"/contacts/{contact_id}").get_data(as_text=True)
    screen = {"wish_dead": "yes", "thoughts": "yes", "method": "yes", "intent": "no",
              "plan": "yes", "behaviour": "no", "csrf_token": csrf(page)}
    assert volunteer.browser.post(f"/contacts/{contact_id}/screen",
                                  data=screen).status_code == 302

    page = volunteer.browser.get(f"/contacts/{contact_id}").get_data(as_text=True)
    words = page.split('id="triage"')[1].split("</section>")[0]
    assert "文字风险提示词" in words
    for text, weight, category in (("遗书", 7, "告别"), ("今晚就结束", 6, "计划")):
        row = re.search(rf"<tr[^>]*>\s*<td>{text}</td>(.*?)</tr>", words, re.S)
        assert row, f"{text} is not listed"
        assert f"<td>{weight}</td>" in row.group(1) and category in row.group(1)
    result = page.split('id="screen-result"')[1].split("</section>")[0]
    assert "C-SSRS" in result and "高" in result
    assert "过去一个月，你是否希望自己死去" in result
    plan = re.search(r"5\. [^<]*</t[dh]>\s*<td>([^<]*)</td>", result)
    assert plan and plan.group(1) == "是"
    assert "筛查时间" in result


def test_the_contact_page_says_when_no_words_matched_and_nothing_was_screened(app, ctx, world):
    volunteer = Person(app, world, "volunteer")
    volunteer.presence("sign_in")
    text_in(app, "SM-calm", "我想找人聊聊", "+8613900000061")
    contact_id = contact_of(ctx, "+8613900000061").id
    volunteer.answer("accept")
    page = volunteer.browser.get(f"/contacts/{contact_id}").get_data(as_text=True)
    assert "没有匹配到风险提示词" in page.split('id="triage"')[1]
    assert "尚未筛查" in page.split('id="screen-result"')[1]


def test_an_away_person_cannot_be_offered_or_take_a_break_but_can_sign_out(app, ctx, world):
    volunteer = Person(app, world, "volunteer")
    volunteer.presence("sign_in")
    with ctx() as db:
        presence = db.get(Presence, volunteer.user_id)
        presence.state = "away"
        db.commit()
    assert volunteer.presence("take_break").status_code == 409
    assert volunteer.presence("sign_out").status_code == 302
    assert state_of(ctx, volunteer) == "offline"
