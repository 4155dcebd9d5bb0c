"""The contact record: answering a call into its conference, replying to texts at most once,
warm transfer to a counselor, wrap-up, and the caller's number hidden from volunteers after."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crisisline.accounts.models import User
from crisisline.database import utcnow
from crisisline.twilio_rest import RecordingHttpClient, recorded_requests
from hotline import routing
from hotline.models import Channel, Contact, ContactMessage, ContactStatus, Presence
from hotline.tasks import keep_the_queue_moving, send_text_reply
from tests.conftest import login
from tests.hotline.test_twilio_webhooks import ACCOUNT, TOKEN, call_params, call_in, signed
from tests.world import PASSWORD, TEST_HOTLINE

CALLER = "+8613900001111"
VOLUNTEER_PHONE, COUNSELOR_PHONE = "+8613811110001", "+8613811110002"
VALID_WRAP_UP = {"categories": ["academic_pressure", "family"], "summary": "考试压力，已支持",
                 "wrap_up_code": "supported"}


@pytest.fixture(autouse=True)
def twilio(app, monkeypatch, tmp_path, ctx, world):
    """Twilio configured with the recording client, an outbox of this test's own, and
    phones on the volunteer's and counselor's accounts."""
    for key, value in {"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": TOKEN,
                       "TWILIO_TRANSPORT": "record"}.items():
        monkeypatch.setitem(app.config, key, value)
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    with ctx() as db:
        db.get(User, world.users["volunteer"].id).phone = VOLUNTEER_PHONE
        db.get(User, world.users["counselor"].id).phone = COUNSELOR_PHONE
        db.commit()


def sent(app) -> list[dict]:
    with app.app_context():
        return recorded_requests()


def presence(ctx, user) -> str | None:
    with ctx() as db:
        found = db.get(Presence, user.id)
        return found.state if found else None


def contact_row(ctx, contact_id: int) -> Contact:
    with ctx() as db:
        return db.get(Contact, contact_id)


def messages(ctx, contact_id: int) -> list[ContactMessage]:
    with ctx() as db:
        return db.scalars(select(ContactMessage).where(ContactMessage.contact_id == contact_id)
                          .order_by(ContactMessage.id)).all()


def on_duty(ctx, *users) -> None:
    with ctx() as db:
        for user in users:
            routing.change_presence(db.get(User, user.id), "sign_in")
        db.commit()


def answered(ctx, world, channel: Channel, *, sid: str | None = None,
             caller: str = CALLER) -> int:
    """A contact offered to and accepted by t_volunteer (who goes on duty for it)."""
    on_duty(ctx, world.users["volunteer"])
    with ctx() as db:
        contact = Contact(centre_id=world.orgs["A"].id, channel=channel, twilio_sid=sid,
                          caller_number=caller, status=ContactStatus.QUEUED,
                          queued_at=utcnow())
        db.add(contact)
        db.flush()
        offer = routing.offer_next(world.orgs["A"].id)
        assert offer.contact_id == contact.id
        routing.accept(db.get(User, world.users["volunteer"].id), offer.id)
        db.commit()
        return contact.id


def refused_fields(response) -> set[str]:
    """The fields a 422 names, from the service's answer or from the schema's."""
    body = response.get_json()
    return set(body.get("fields") or body.get("errors", {}).get("json", {}))


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)


# -- SMS replies -----------------------------------------------------------------------------

def test_a_reply_to_a_text_is_stored_pending_then_texted_once_after_commit(app, ctx, api,
                                                                            world):
    contact_id = answered(ctx, world, Channel.SMS)
    response = api("volunteer").post(f"/api/contacts/{contact_id}/messages",
                                      {"body": "我在，慢慢说。"})
    assert response.status_code == 201
    assert (response.json["inbound"], response.json["delivery"]) == (False, "pending")
    [request] = sent(app)
    assert request["url"].endswith(f"/Accounts/{ACCOUNT}/Messages.json")
    assert request["data"] == {**request["data"], "To": CALLER, "From": TEST_HOTLINE,
                               "Body": "我在，慢慢说。"}
    [message] = messages(ctx, contact_id)
    assert (message.delivery, message.twilio_sid) == ("sent", request["sid"])
    assert message.sent_by_id == world.users["volunteer"].id


def test_sending_the_same_reply_again_texts_nothing_more(app, ctx, api, world):
    contact_id = answered(ctx, world, Channel.SMS)
    api("volunteer").post(f"/api/contacts/{contact_id}/messages", {"body": "我在。"})
    [message] = messages(ctx, contact_id)
    assert send_text_reply.delay(message.id).get() == "skipped"
    assert send_text_reply.delay(message.id).get() == "skipped"
    assert len(sent(app)) == 1
    assert messages(ctx, contact_id)[0].delivery == "sent"


class WorkerDied(BaseException):
    """The worker's process ends in the middle of Twilio's request (nothing after it runs:
    not an error the sending code could catch and record, as a network error is)."""


def test_a_reply_whose_worker_died_mid_send_is_never_texted_again(app, ctx, api, world,
                                                                  monkeypatch):
    contact_id = answered(ctx, world, Channel.SMS)
    original = RecordingHttpClient.request

    def die(*args, **kwargs):
        raise WorkerDied()
    monkeypatch.setattr(RecordingHttpClient, "request", die)
    with pytest.raises(WorkerDied):  # the send ran (eagerly) after the reply was committed
        api("volunteer").post(f"/api/contacts/{contact_id}/messages", {"body": "你还在吗？"})
    monkeypatch.setattr(RecordingHttpClient, "request", original)
    with ctx() as db:
        [message] = db.scalars(select(ContactMessage).where(
            ContactMessage.contact_id == contact_id)).all()
        assert message.delivery == "sending"  # committed before Twilio was called
        message.created_at = utcnow() - timedelta(minutes=5)  # long past the lost-send sweep
        db.commit()
    assert send_text_reply.delay(message.id).get() == "skipped"
    assert keep_the_queue_moving.delay().get()["resent"] == 0
    assert sent(app) == []
    assert messages(ctx, contact_id)[0].delivery == "sending"


def test_a_reply_whose_task_was_lost_is_sent_once_by_the_sweep(app, ctx, api, world):
    contact_id = answered(ctx, world, Channel.SMS)

    class BrokerDown:
        @staticmethod
        def delay(*_args):
            raise OSError("broker unreachable")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("hotline.tasks.send_text_reply", BrokerDown)
        assert api("volunteer").post(f"/api/contacts/{contact_id}/messages",
                                     {"body": "我们明天再聊。"}).status_code == 201
    assert sent(app) == []
    with ctx() as db:
        [message] = db.scalars(select(ContactMessage).where(
            ContactMessage.contact_id == contact_id)).all()
        assert message.delivery == "pending"
        message.created_at = utcnow() - timedelta(minutes=1)
        db.commit()
    broker: list[int] = []  # the sweep's sends, delivered to a worker after the sweep
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("hotline.tasks.send_text_reply", type("Broker", (), {
            "delay": staticmethod(broker.append)}))
        assert keep_the_queue_moving.delay().get()["resent"] == 1
        assert broker == [message.id]
        assert send_text_reply.delay(broker.pop()).get() == "sent"
        assert keep_the_queue_moving.delay().get()["resent"] == 0
        assert broker == []
    bodies = [r["data"].get("Body") for r in sent(app)]
    assert bodies.count("我们明天再聊。") == 1
    assert messages(ctx, contact_id)[0].delivery == "sent"


def test_a_reply_typed_on_the_contact_page_is_texted_to_the_student(app, client, ctx, world):
    contact_id = answered(ctx, world, Channel.SMS)
    login(client, "t_volunteer", PASSWORD)
    page = client.get(f"/contacts/{contact_id}").get_data(as_text=True)
    response = client.post(f"/contacts/{contact_id}/reply",
                           data={"csrf_token": csrf(page), "body": "谢谢你愿意说出来。"})
    assert response.status_code == 302
    assert [r["data"]["Body"] for r in sent(app)] == ["谢谢你愿意说出来。"]
    transcript = client.get(f"/contacts/{contact_id}/transcript").get_data(as_text=True)
    assert "谢谢你愿意说出来。" in transcript


def test_a_call_cannot_be_replied_to_by_text(app, ctx, api, world):
    contact_id = answered(ctx, world, Channel.VOICE, sid="CA-voice-reply")
    before = len(sent(app))  # the answer itself dialled the volunteer
    response = api("volunteer").post(f"/api/contacts/{contact_id}/messages", {"body": "你好"})
    assert response.status_code == 422 and "body" in refused_fields(response)
    assert messages(ctx, contact_id) == [] and len(sent(app)) == before


def test_someone_elses_conversation_cannot_be_replied_to(app, ctx, api, world):
    contact_id = answered(ctx, world, Channel.SMS)
    response = api("other_volunteer").post(f"/api/contacts/{contact_id}/messages",
                                           {"body": "我来回复"})
    assert response.status_code in (403, 404)
    assert messages(ctx, contact_id) == [] and sent(app) == []


@pytest.mark.parametrize("body", ["", "   \n ", "长" * 1601])
def test_an_empty_or_overlong_reply_is_refused_by_name_and_nothing_is_kept(app, ctx, api,
                                                                            world, body):
    contact_id = answered(ctx, world, Channel.SMS)
    response = api("volunteer").post(f"/api/contacts/{contact_id}/messages", {"body": body})
    assert response.status_code == 422 and refused_fields(response) == {"body"}
    assert messages(ctx, contact_id) == [] and sent(app) == []


def test_a_reply_of_exactly_the_longest_allowed_length_is_sent(app, ctx, api, world):
    contact_id = answered(ctx, world, Channel.SMS)
    response = api("volunteer").post(f"/api/contacts/{contact_id}/messages",
                                     {"body": "长" * 1600})
    assert response.status_code == 201
    assert [len(r["data"]["Body"]) for r in sent(app)] == [1600]


# -- wrap-up ---------------------------------------------------------------------------------

@pytest.mark.parametrize("change, field", [
    ({"categories": ["astrology"]}, "categories"),
    ({"categories": []}, "categories"),
    ({"wrap_up_code": None}, "wrap_up_code"),
    ({"wrap_up_code": "went_well"}, "wrap_up_code"),
    ({"summary": ""}, "summary"),
    ({"summary": "   "}, "summary"),
])
def test_a_wrap_up_missing_or_wrong_in_one_field_is_refused_by_name_and_changes_nothing(
        ctx, api, world, change, field):
    contact_id = answered(ctx, world, Channel.SMS)
    data = {key: value for key, value in {**VALID_WRAP_UP, **change}.items()
            if value is not None}
    response = api("volunteer").post(f"/api/contacts/{contact_id}/wrap-up", data)
    assert response.status_code == 422 and field in refused_fields(response)
    contact = contact_row(ctx, contact_id)
    assert (contact.status, contact.categories, contact.summary, contact.wrap_up_code,
            contact.wrapped_up_at) == (ContactStatus.ACTIVE, [], "", None, None)
    assert presence(ctx, world.users["volunteer"]) == "busy"


@pytest.mark.parametrize("change, field", [
    ({"wrap_up_code": "went_well"}, "结束代码"),
    ({"categories": ["astrology"]}, "类别"),
    ({"summary": " "}, "摘要"),
])
def test_a_wrap_up_form_with_a_wrong_field_says_which_and_changes_nothing(client, ctx, world,
                                                                          change, field):
    contact_id = answered(ctx, world, Channel.SMS)
    login(client, "t_volunteer", PASSWORD)
    page = client.get(f"/contacts/{contact_id}").get_data(as_text=True)
    response = client.post(f"/contacts/{contact_id}/wrap-up",
                           data={"csrf_token": csrf(page), **VALID_WRAP_UP, **change})
    assert response.status_code == 422  # the contact page again, as typed, saying why
    shown = response.get_data(as_text=True)
    assert re.search(rf'class="flash error"[^>]*>{field}：', shown)
    contact = contact_row(ctx, contact_id)
    assert (contact.status, contact.wrap_up_code, contact.wrapped_up_at) == (
        ContactStatus.ACTIVE, None, None)
    assert presence(ctx, world.users["volunteer"]) == "busy"


def test_a_wrap_up_records_the_contact_and_frees_the_volunteer(ctx, api, world):
    contact_id = answered(ctx, world, Channel.SMS)
    response = api("volunteer").post(f"/api/contacts/{contact_id}/wrap-up", VALID_WRAP_UP)
    assert response.status_code == 200
    contact = contact_row(ctx, contact_id)
    assert contact.status == ContactStatus.ENDED
    assert contact.categories == ["academic_pressure", "family"]
    assert (contact.summary, contact.wrap_up_code) == ("考试压力，已支持", "supported")
    assert contact.wrapped_up_at is not None and contact.ended_at is not None
    assert presence(ctx, world.users["volunteer"]) == "available"
    again = api("volunteer").post(f"/api/contacts/{contact_id}/wrap-up", VALID_WRAP_UP)
    assert again.status_code == 409


def test_after_wrap_up_a_volunteer_sees_the_number_masked_and_a_supervisor_in_full(
        app, client, ctx, api, world):
    contact_id = answered(ctx, world, Channel.SMS)
    before = api("volunteer").get(f"/api/contacts/{contact_id}")
    assert before.json["caller_number"] == CALLER  # theirs while they are on it
    api("volunteer").post(f"/api/contacts/{contact_id}/wrap-up", VALID_WRAP_UP)

    shown = api("volunteer").get(f"/api/contacts/{contact_id}")
    assert shown.status_code == 200
    assert shown.json["caller_number"] != CALLER
    assert shown.json["caller_number"].endswith(CALLER[-4:]) and "*" in \
        shown.json["caller_number"]
    assert CALLER not in shown.get_data(as_text=True)
    assert api("supervisor").get(f"/api/contacts/{contact_id}").json["caller_number"] == \
        CALLER

    login(client, "t_volunteer", PASSWORD)
    page = client.get(f"/contacts/{contact_id}")
    assert page.status_code == 200
    assert shown.json["caller_number"] in page.get_data(as_text=True)
    assert CALLER not in page.get_data(as_text=True)
    supervisor = app.test_client()
    login(supervisor, "t_supervisor", PASSWORD)
    assert CALLER in supervisor.get(f"/contacts/{contact_id}").get_data(as_text=True)


# -- warm transfer ---------------------------------------------------------------------------

def test_a_warm_transfer_hands_the_contact_to_the_free_counselor(ctx, api, world):
    contact_id = answered(ctx, world, Channel.SMS)
    on_duty(ctx, world.users["counselor"])
    response = api("volunteer").post(f"/api/contacts/{contact_id}/transfer")
    assert response.status_code == 200
    contact = contact_row(ctx, contact_id)
    assert contact.handled_by_id == world.users["counselor"].id
    assert contact.answered_by_id == world.users["volunteer"].id
    assert contact.transferred_at is not None and contact.status == ContactStatus.ACTIVE
    assert presence(ctx, world.users["counselor"]) == "busy"
    assert presence(ctx, world.users["volunteer"]) == "wrap_up"


def test_a_transferred_call_dials_the_counselor_into_the_callers_conference(app, ctx, api,
                                                                             world):
    contact_id = answered(ctx, world, Channel.VOICE, sid="CA-transfer")
    on_duty(ctx, world.users["counselor"])
    assert api("volunteer").post(f"/api/contacts/{contact_id}/transfer").status_code == 200
    [dialled] = [r for r in sent(app) if r["data"].get("To") == COUNSELOR_PHONE]
    assert dialled["method"] == "POST"
    assert dialled["url"].endswith(f"/Accounts/{ACCOUNT}/Calls.json")
    assert dialled["data"]["Url"].endswith(f"/twilio/voice/conference/{contact_id}/staff")
    assert dialled["data"]["From"] == TEST_HOTLINE


def test_a_transferred_text_dials_nobody(app, ctx, api, world):
    contact_id = answered(ctx, world, Channel.SMS)
    on_duty(ctx, world.users["counselor"])
    assert api("volunteer").post(f"/api/contacts/{contact_id}/transfer").status_code == 200
    assert sent(app) == []


def test_without_a_free_counselor_a_transfer_is_refused_and_changes_nothing(app, ctx, api,
                                                                            world):
    contact_id = answered(ctx, world, Channel.VOICE, sid="CA-no-counselor")
    before = len(sent(app))
    on_duty(ctx, world.users["counselor"], world.users["other_volunteer"])  # free, no counselor
    with ctx() as db:  # on duty, but on a break
        routing.change_presence(db.get(User, world.users["counselor"].id), "take_break")
        db.commit()
    response = api("volunteer").post(f"/api/contacts/{contact_id}/transfer")
    assert response.status_code == 409
    contact = contact_row(ctx, contact_id)
    assert (contact.handled_by_id, contact.transferred_at) == (world.users["volunteer"].id,
                                                               None)
    assert presence(ctx, world.users["volunteer"]) == "busy"
    assert presence(ctx, world.users["counselor"]) == "break"
    assert presence(ctx, world.users["other_volunteer"]) == "available"
    assert len(sent(app)) == before


def test_after_a_transfer_the_volunteer_may_read_but_not_act_on_the_contact(ctx, api, world):
    contact_id = answered(ctx, world, Channel.SMS)
    on_duty(ctx, world.users["counselor"])
    api("volunteer").post(f"/api/contacts/{contact_id}/transfer")
    volunteer = api("volunteer")
    seen = volunteer.get(f"/api/contacts/{contact_id}")
    assert seen.status_code == 200
    assert seen.json["caller_number"] != CALLER  # handed on: masked
    assert volunteer.get(f"/api/contacts/{contact_id}/messages").status_code == 200
    assert volunteer.post(f"/api/contacts/{contact_id}/messages",
                          {"body": "还是我"}).status_code == 403
    assert volunteer.post(f"/api/contacts/{contact_id}/wrap-up",
                          VALID_WRAP_UP).status_code == 403
    assert volunteer.post(f"/api/contacts/{contact_id}/transfer").status_code == 403
    assert messages(ctx, contact_id) == []
    assert contact_row(ctx, contact_id).status == ContactStatus.ACTIVE


def test_the_counselor_who_took_a_transfer_replies_and_wraps_it_up(app, ctx, api, world):
    contact_id = answered(ctx, world, Channel.SMS)
    on_duty(ctx, world.users["counselor"])
    api("volunteer").post(f"/api/contacts/{contact_id}/transfer")
    counselor = api("counselor")
    assert counselor.get(f"/api/contacts/{contact_id}").json["caller_number"] == CALLER
    assert counselor.post(f"/api/contacts/{contact_id}/messages",
                          {"body": "我是值班咨询师。"}).status_code == 201
    assert [r["data"]["Body"] for r in sent(app)] == ["我是值班咨询师。"]
    assert counselor.post(f"/api/contacts/{contact_id}/wrap-up",
                          VALID_WRAP_UP).status_code == 200
    assert contact_row(ctx, contact_id).status == ContactStatus.ENDED
    assert presence(ctx, world.users["counselor"]) == "available"


# -- answering a call ------------------------------------------------------------------------

def test_accepting_a_call_moves_the_caller_into_the_conference_and_dials_the_volunteer(
        app, client, ctx, api, world):
    on_duty(ctx, world.users["volunteer"])
    call_in(app, client, "CA-answer", digits="3")
    volunteer = api("volunteer")
    [offer] = volunteer.get("/api/offers/mine").json
    assert sent(app) == []  # nothing is dialled before the volunteer accepts
    accepted = volunteer.post(f"/api/offers/{offer['id']}/accept")
    assert accepted.status_code == 200
    contact_id = accepted.json["id"]
    assert accepted.json["answered_by_id"] == world.users["volunteer"].id
    assert accepted.json["handled_by_id"] == world.users["volunteer"].id
    requests = sent(app)
    [moved] = [r for r in requests
               if r["url"].endswith(f"/Accounts/{ACCOUNT}/Calls/CA-answer.json")]
    assert moved["method"] == "POST"
    assert moved["data"]["Url"].endswith(f"/twilio/voice/conference/{contact_id}/caller")
    [dialled] = [r for r in requests if r["url"].endswith(f"/Accounts/{ACCOUNT}/Calls.json")]
    assert dialled["data"]["To"] == VOLUNTEER_PHONE
    assert dialled["data"]["From"] == TEST_HOTLINE
    assert dialled["data"]["Url"].endswith(f"/twilio/voice/conference/{contact_id}/staff")
    assert len(requests) == 2
    assert requests.index(moved) < requests.index(dialled)


def test_accepting_a_text_dials_nobody(app, ctx, api, world):
    answered(ctx, world, Channel.SMS)
    assert sent(app) == []


# -- the conference's TwiML ------------------------------------------------------------------

def conference_of(response) -> dict:
    root = ElementTree.fromstring(response.get_data(as_text=True))
    [conference] = root.findall("./Dial/Conference")
    return {**conference.attrib, "name": conference.text}


def test_the_caller_joins_a_conference_that_ends_when_they_leave(app, client, ctx, world):
    contact_id = answered(ctx, world, Channel.VOICE, sid="CA-leg")
    response = signed(app, client, f"/twilio/voice/conference/{contact_id}/caller",
                      call_params("CA-leg"))
    assert response.status_code == 200 and response.mimetype == "text/xml"
    conference = conference_of(response)
    assert conference["endConferenceOnExit"] == "true"
    assert conference["startConferenceOnEnter"] == "false"
    assert conference["name"] == f"crisisline-contact-{contact_id}"


def test_staff_join_the_same_conference_which_goes_on_when_they_leave(app, client, ctx,
                                                                       world):
    contact_id = answered(ctx, world, Channel.VOICE, sid="CA-leg2")
    response = signed(app, client, f"/twilio/voice/conference/{contact_id}/staff",
                      call_params("CA-staff-leg", VOLUNTEER_PHONE))
    assert response.status_code == 200
    conference = conference_of(response)
    assert conference["endConferenceOnExit"] == "false"
    assert conference["startConferenceOnEnter"] == "true"
    assert conference["name"] == f"crisisline-contact-{contact_id}"


@pytest.mark.parametrize("leg", ["caller", "staff"])
def test_an_unsigned_conference_request_is_refused(app, client, ctx, world, leg):
    contact_id = answered(ctx, world, Channel.VOICE, sid=f"CA-unsigned-{leg}")
    response = client.post(f"/twilio/voice/conference/{contact_id}/{leg}",
                           data=call_params("CA-unsigned"))
    assert response.status_code == 403
    assert "Conference" not in response.get_data(as_text=True)


@pytest.mark.parametrize("leg", ["caller", "staff"])
def test_a_leg_for_a_call_already_over_is_hung_up(app, client, ctx, api, world, leg):
    contact_id = answered(ctx, world, Channel.VOICE, sid=f"CA-over-{leg}")
    api("volunteer").post(f"/api/contacts/{contact_id}/wrap-up", VALID_WRAP_UP)
    response = signed(app, client, f"/twilio/voice/conference/{contact_id}/{leg}",
                      call_params(f"CA-over-{leg}"))
    root = ElementTree.fromstring(response.get_data(as_text=True))
    assert root.find("Hangup") is not None and root.find("Dial") is None


# -- the caller hangs up ---------------------------------------------------------------------

def test_a_caller_hanging_up_an_answered_call_leaves_it_for_wrap_up(app, client, ctx, api,
                                                                    world):
    on_duty(ctx, world.users["volunteer"])
    call_in(app, client, "CA-hangup", digits="3")
    volunteer = api("volunteer")
    [offer] = volunteer.get("/api/offers/mine").json
    contact_id = volunteer.post(f"/api/offers/{offer['id']}/accept").json["id"]
    response = signed(app, client, "/twilio/voice/status",
                      call_params("CA-hangup", CallStatus="completed"))
    assert response.status_code == 204
    contact = contact_row(ctx, contact_id)
    assert contact.status == ContactStatus.WRAP_UP and contact.ended_at is not None
    assert presence(ctx, world.users["volunteer"]) == "wrap_up"
    assert volunteer.post(f"/api/contacts/{contact_id}/wrap-up", {
        **VALID_WRAP_UP, "wrap_up_code": "caller_disconnected"}).status_code == 200
    assert contact_row(ctx, contact_id).status == ContactStatus.ENDED
    assert presence(ctx, world.users["volunteer"]) == "available"


def test_messages_of_a_contact_are_listed_in_order_for_its_volunteer(ctx, api, world):
    contact_id = answered(ctx, world, Channel.SMS)
    with ctx() as db:
        db.add(ContactMessage(contact_id=contact_id, inbound=True, body="在吗"))
        db.commit()
    api("volunteer").post(f"/api/contacts/{contact_id}/messages", {"body": "在的"})
    listed = api("volunteer").get(f"/api/contacts/{contact_id}/messages").json
    assert [(m["inbound"], m["body"]) for m in listed] == [(True, "在吗"), (False, "在的")]
    assert api("other_volunteer").get(f"/api/contacts/{contact_id}/messages").status_code \
        == 403
    with ctx() as db:
        assert db.scalar(select(func.count(ContactMessage.id)).where(
            ContactMessage.contact_id == contact_id)) == 2
